"""callrec: console."""
