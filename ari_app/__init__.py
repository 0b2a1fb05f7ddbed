"""callrec: ari_app."""
