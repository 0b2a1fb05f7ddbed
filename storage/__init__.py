"""callrec: storage."""
