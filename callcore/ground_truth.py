"""Each call's bridged span as Asterisk itself logged it (CEL over AMI): the ground truth.

callrec's own clock says when it *thought* a call was bridged; verification
needs what Asterisk did. This folds the CEL events (CHAN_START, ANSWER,
BRIDGE_ENTER, BRIDGE_EXIT, HANGUP, LINKEDID_END) and the channel variables
AMI adds to Hangup events (``CALLREC_CALL_ID``, ``CALLREC_ROUTE``, see
asterisk-conf/manager.conf) into one :class:`Span` per Asterisk linkedid. A
Stasis call is also known by its bridge, which the app names ``<call id>-b``.

A call is *bridged* while at least two parties share a bridge; snoop,
recorder and announcer channels are not parties. Bridges are tracked across
linkedids, since a channel originated over ARI may carry its own linkedid
into the caller's bridge. Pure: no I/O; times are epoch seconds taken from
AMI's ``Timestamp`` (this Asterisk prints CEL's EventTime to the second only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Channel technologies that are callrec's or Asterisk's helpers, not call parties.
NOT_PARTIES = ("Snoop/", "Recorder/", "Announcer/", "CBAnn/", "CBRec/")
_CHANVAR = re.compile(r"(CALLREC_[A-Z_]+)=([^',\]\s]*)")
# The Stasis path names each call's bridge "<call id>-b" (ari_app/app.py).
_CALLREC_BRIDGE = re.compile(r"^([0-9a-f]{32})-b$")


@dataclass
class Span:
    """One call (linkedid) as Asterisk logged it."""

    linkedid: str
    started_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    intervals: list[tuple[float, float]] = field(default_factory=list)  # bridged, merged
    channels: dict[str, str] = field(default_factory=dict)  # uniqueid -> channel name
    answers: dict[str, float] = field(default_factory=dict)  # uniqueid -> answer time
    call_id: str | None = None
    route: str | None = None  # CALLREC_ROUTE, e.g. "stasis", "fallback-agent"
    finished: bool = False
    opened_at: float | None = None  # when two parties first shared a bridge
    left_at: float | None = None  # a party left a bridge we never saw it enter

    @property
    def bridged_at(self) -> float | None:
        return self.intervals[0][0] if self.intervals else self.opened_at

    @property
    def unbridged_at(self) -> float | None:
        return self.intervals[-1][1] if self.intervals else self.left_at

    @property
    def bridged_seconds(self) -> float:
        return sum(b - a for a, b in self.intervals)

    def details(self) -> dict[str, Any]:
        return {
            "intervals": [[round(a, 6), round(b, 6)] for a, b in self.intervals],
            "channels": dict(self.channels),
            "route": self.route,
            "started_at": self.started_at,
        }


def is_party(channel: str) -> bool:
    return bool(channel) and not channel.startswith(NOT_PARTIES)


def event_time(event: Mapping[str, str]) -> float | None:
    try:
        return float(event["Timestamp"])
    except (KeyError, ValueError):
        return None


def chan_vars(event: Mapping[str, str]) -> dict[str, str]:
    """``ChanVariable`` as AMI sends it (one header, or a list panoramisk printed)."""
    return {k: v for k, v in _CHANVAR.findall(event.get("ChanVariable", "")) if v}


def _merge(intervals: list[tuple[float, float]], new: tuple[float, float]) -> None:
    """Add ``new`` and keep the list sorted and non-overlapping (bridges may overlap)."""
    if new[1] <= new[0]:
        return
    merged: list[tuple[float, float]] = []
    for a, b in sorted([*intervals, new]):
        if merged and a <= merged[-1][1] + 1e-6:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    intervals[:] = merged


class GroundTruth:
    """Folds CEL/Hangup events into spans; ``feed`` returns spans that just finished."""

    def __init__(self) -> None:
        self.spans: dict[str, Span] = {}
        # bridge id -> {uniqueid: linkedid} of the parties in it, and when it last changed
        self._bridges: dict[str, dict[str, str]] = {}
        self._since: dict[str, float] = {}
        # linkedids that just got two parties bridged: worth saving now, so a
        # collector restarted mid-call still has the start (the caller drains it)
        self.opened: list[str] = []

    def span(self, linkedid: str) -> Span:
        found = self.spans.get(linkedid)
        if found is None:
            found = self.spans[linkedid] = Span(linkedid)
        return found

    def feed(self, event: Mapping[str, str]) -> Span | None:
        kind = event.get("Event")
        t = event_time(event)
        if kind == "Hangup":
            linkedid = event.get("Linkedid") or event.get("LinkedID") or ""
            if linkedid:
                self._vars(self.span(linkedid), chan_vars(event))
            return None
        if kind != "CEL" or t is None:
            return None
        linkedid = event.get("LinkedID", "")
        uniqueid = event.get("UniqueID", "")
        channel = event.get("Channel", "")
        if not linkedid:
            return None
        span = self.span(linkedid)
        name = event.get("EventName", "")
        if is_party(channel) and uniqueid:
            span.channels.setdefault(uniqueid, channel)
        if name == "CHAN_START" and span.started_at is None:
            span.started_at = t
        elif name == "ANSWER" and is_party(channel):
            span.answers.setdefault(uniqueid, t)
            if span.answered_at is None:
                span.answered_at = t
        elif name in ("BRIDGE_ENTER", "BRIDGE_EXIT") and is_party(channel):
            bridge = bridge_id_of(event.get("Extra", ""))
            if bridge:
                self._bridge_change(bridge, uniqueid, linkedid, t, enter=name == "BRIDGE_ENTER")
        elif name == "HANGUP":
            span.ended_at = t
        elif name == "LINKEDID_END":
            span.ended_at = max(t, span.ended_at or t)
            span.finished = True
            return span
        return None

    def forget(self, linkedid: str) -> None:
        self.spans.pop(linkedid, None)

    def _vars(self, span: Span, values: Mapping[str, str]) -> None:
        if values.get("CALLREC_CALL_ID") and not span.call_id:
            span.call_id = values["CALLREC_CALL_ID"]
        if values.get("CALLREC_ROUTE"):
            span.route = values["CALLREC_ROUTE"]
        if values.get("CALLREC_STATUS") == "fallback":  # the FastAGI decision failed
            span.route = f"agi-fallback-{values.get('CALLREC_FALLBACK') or 'unknown'}"

    def _bridge_change(
        self, bridge: str, uniqueid: str, linkedid: str, t: float, *, enter: bool
    ) -> None:
        members = self._bridges.setdefault(bridge, {})
        # Close the stretch since the last change: bridged if two parties shared it.
        if len(members) >= 2:
            since = self._since.get(bridge, t)
            for owner in set(members.values()):
                _merge(self.span(owner).intervals, (since, t))
        named = _CALLREC_BRIDGE.match(bridge)
        if named and not self.span(linkedid).call_id:
            self.span(linkedid).call_id = named.group(1)
        if enter:
            members[uniqueid] = linkedid
            if len(members) == 2:
                for owner in set(members.values()):
                    span = self.span(owner)
                    if span.opened_at is None:
                        span.opened_at = t
                        self.opened.append(owner)
        elif uniqueid in members:
            members.pop(uniqueid)
        else:  # we started after it entered (a restart): only the end is known
            self.span(linkedid).left_at = t
        self._since[bridge] = t
        if not members:
            self._bridges.pop(bridge, None)
            self._since.pop(bridge, None)


def bridge_id_of(extra: str) -> str | None:
    try:
        data = json.loads(extra) if extra else {}
    except ValueError:
        return None
    bridge = data.get("bridge_id") if isinstance(data, dict) else None
    return str(bridge) if bridge else None
