"""callrec: callrec."""
