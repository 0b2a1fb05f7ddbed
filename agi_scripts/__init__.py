"""callrec: agi_scripts."""
