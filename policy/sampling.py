"""Deterministic sampling per (call, scope).

A hash, not a random generator: every host and every restart must give the
same answer for the same call, so a retried or re-evaluated decision never
flips. SHA-256 spreads call ids evenly whatever their format.
"""

from __future__ import annotations

import hashlib

_SCALE = 100.0 / 2.0**64


def draw(call_id: str, scope: str) -> float:
    """A value in [0, 100) fixed for this call and scope."""
    digest = hashlib.sha256(f"{call_id}|{scope}".encode()).digest()
    return int.from_bytes(digest[:8], "big") * _SCALE


def sampled(call_id: str, scope: str, percent: float) -> bool:
    """True for ``percent`` % of calls; 0 never draws and 100 always does."""
    if percent <= 0:
        return False
    if percent >= 100:
        return True
    return draw(call_id, scope) < percent


def agent_scope(agent_id: str) -> str:
    return f"agent:{agent_id}"


def queue_scope(queue: str) -> str:
    return f"queue:{queue}"
