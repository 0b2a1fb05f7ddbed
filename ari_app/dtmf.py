"""DTMF sequences (``*1`` toggles recording, ``*2`` pause) from single digits.

ARI reports one digit per event; this turns a stream of digits into actions.
Digits further apart than the timeout start over, so a stray ``*`` while
typing a card number does not arm a toggle forever.
"""

from __future__ import annotations

from collections.abc import Mapping


class DtmfMatcher:
    def __init__(self, sequences: Mapping[str, str], timeout: float = 2.0) -> None:
        self.sequences = dict(sequences)
        self.timeout = timeout
        self._buffer = ""
        self._last = 0.0
        self._longest = max((len(s) for s in sequences), default=1)

    def feed(self, digit: str, now: float) -> str | None:
        """Add one digit; return the action name when a sequence completes."""
        if now - self._last > self.timeout:
            self._buffer = ""
        self._last = now
        self._buffer = (self._buffer + digit)[-self._longest :]
        for seq, action in self.sequences.items():
            if self._buffer.endswith(seq):
                self._buffer = ""
                return action
        return None
