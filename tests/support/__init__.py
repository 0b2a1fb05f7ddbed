"""Test helpers that start real parts (Asterisk, sshd, PostgreSQL, Chromium)."""
