"""callrec: policy."""
