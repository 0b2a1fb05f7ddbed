"""Data files shipped with the policy engine (the US area-code table)."""
