"""Bring a persisted call written by an older callrec to today's shape.

A service upgraded in the middle of a call must still deliver that call's
recording, so every older schema is migrated on load, and a file that cannot
be read even so is *salvaged*: whatever identifies its captures is kept and
the call is flagged (``state_unreadable``) rather than dropped.
"""

from __future__ import annotations

import logging
from typing import Any

from callcore.state import SCHEMA_VERSION, CallState, Capture, Segment
from policy import Decision

log = logging.getLogger("callrec.state")

UNREADABLE_FLAG = "state_unreadable"

# Keys of the version-1 ``extra`` bag that became fields of their own.
_V1_FIELDS = (
    "in_bridge",
    "previous_agents",
    "continue_flag",
    "announcement",
    "refusals",
    "agent_channel_name",
    "agent_uniqueid",
    "continue_recording",
    "mixmonitor_id",
)
_V1_DROPPED = ("stasis_start_at",)  # a measurement, never state


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (no version key): untyped ``extra``, decisions as plain dicts."""
    data = dict(data)
    extra = dict(data.pop("extra", None) or {})
    for key in _V1_FIELDS:
        if key in extra:
            data[key] = extra.pop(key)
    transfer = extra.pop("transfer", None)
    if isinstance(transfer, dict):  # Stasis: the API transfer under way
        data["transfer"] = {
            "agent": str(transfer.get("agent", "")),
            "continue_recording": bool(transfer.get("continue")),
            "channel": str(transfer.get("channel", "")),
        }
    elif isinstance(transfer, str):  # dialplan: the AMI event's name
        data["last_transfer"] = transfer
    consult = extra.pop("consult", None)
    if isinstance(consult, dict):
        data["consult"] = {
            "uniqueid": str(consult.get("uniqueid", "")),
            "name": str(consult.get("name", "")),
            "agent": str(consult.get("agent", "")),
            "continue_recording": bool(consult.get("continue_recording")),
        }
    seg = data.get("segment")
    numbers = [int(data.pop("segments_done", 0) or 0), int(extra.pop("segments_started", 0) or 0)]
    if seg:
        numbers.append(int(seg.get("segment_no", 0)))
    data["segments"] = max(numbers)
    data["decision"] = data.get("decision") or None
    for key in _V1_DROPPED:
        extra.pop(key, None)
    if extra:
        log.warning("call %s: state keys %s not kept by the upgrade", data.get("call_id"), extra)
    data["schema_version"] = 2
    return data


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 did not save the machine's consulting state.

    A dialplan call saved with a consultation under way (``consult``) was
    consulting: the agent consulted is the transfer's target, and the segment,
    if one runs, goes on. A Stasis call's consultation was never saved.
    """
    data = dict(data)
    consult = data.get("consult")
    data["consulting"] = None
    if isinstance(consult, dict) and not data.get("ended"):
        data["consulting"] = {
            "agent": str(consult.get("agent", "")),
            "continue_recording": bool(consult.get("continue_recording")),
            "consult": True,
        }
    data["schema_version"] = 3
    return data


_STEPS = {None: _v1_to_v2, 1: _v1_to_v2, 2: _v2_to_v3}


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` in :data:`SCHEMA_VERSION`'s shape; raises ValueError for a newer one."""
    version = data.get("schema_version")
    while version != SCHEMA_VERSION:
        step = _STEPS.get(version)
        if step is None:
            raise ValueError(f"state schema {version!r} is unknown to this callrec")
        data = step(data)
        version = data["schema_version"]
    return data


def load(data: dict[str, Any]) -> CallState:
    return CallState.from_dict(migrate(data))


def salvage(data: object, call_id: str) -> CallState | None:
    """What can be kept of an unreadable file: the call and its live captures, flagged.

    None when not even a capture can be found (there is nothing to deliver).
    """
    raw: dict[str, Any] = data if isinstance(data, dict) else {}
    seg_raw = raw.get("segment") if isinstance(raw.get("segment"), dict) else None
    call = CallState(
        call_id=call_id,
        source=str(raw.get("source", "ari")),
        direction="inbound" if raw.get("direction") == "inbound" else "outbound",
        agent=str(raw.get("agent") or "unknown"),
        flags=[UNREADABLE_FLAG],
    )
    channels = raw.get("channels")
    if isinstance(channels, dict):
        call.channels = {str(k): str(v) for k, v in channels.items()}
    call.bridge_id = str(raw.get("bridge_id", ""))
    # Unknown times count as long ago: the call is not mistaken for one being set up.
    for key in ("created_at", "bridged_at"):
        value = raw.get(key)
        setattr(call, key, float(value) if isinstance(value, int | float) else 0.0)
    if seg_raw is None:
        return None
    captures = {}
    for leg, cap in (seg_raw.get("captures") or {}).items():
        try:
            captures[str(leg)] = Capture(**cap)
        except TypeError:
            continue
    if not captures:
        return None
    try:
        decision = Decision.from_dict(seg_raw["decision"])
    except (KeyError, TypeError):
        decision = Decision("both", False, False, False, False, None, None, (UNREADABLE_FLAG,))
    call.segment = Segment(
        recording_id=str(seg_raw.get("recording_id") or next(iter(captures.values())).handle),
        segment_no=int(seg_raw.get("segment_no", 1) or 1),
        agent=call.agent,
        legs="both" if len(captures) > 1 else "agent",
        decision=decision,
        started_at=float(seg_raw.get("started_at", 0.0) or 0.0),
        captures=captures,
    )
    call.segments = call.segment.segment_no
    return call
