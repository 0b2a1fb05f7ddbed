"""The live state of a call and of its current recording segment.

One shape for both call paths, persisted (see ``callcore.state_store``) after
every change so a restarted service can pick a call up where it was: nothing
that must survive lives only in memory.

A *segment* is one continuous recording: it starts on autostart or an agent's
start, ends on stop, transfer or hangup, and becomes one set of files (per-leg
tracks, plus the stereo file when both legs are captured). A call has any
number of segments, numbered from 1.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from policy import Decision


@dataclass
class Capture:
    """One leg's capture: an ARI recording on a snoop, or a MixMonitor file."""

    leg: str  # "agent" | "customer"
    handle: str  # ARI recording name, or MixMonitor file id
    host_path: str  # where the finished file is, as this host sees it
    snoop_id: str = ""
    started_at: float = 0.0  # epoch seconds; 0 until the capture really started
    finished: bool = False


@dataclass
class Segment:
    recording_id: str
    segment_no: int
    agent: str
    legs: str
    decision: dict[str, Any]
    started_at: float = field(default_factory=time.time)
    ended_at: float = 0.0
    captures: dict[str, Capture] = field(default_factory=dict)
    pauses: list[list[float]] = field(default_factory=list)  # [start, end or 0]
    paused: bool = False

    def open_pause(self, now: float) -> None:
        self.paused = True
        self.pauses.append([now, 0.0])

    def close_pause(self, now: float) -> None:
        self.paused = False
        if self.pauses and not self.pauses[-1][1]:
            self.pauses[-1][1] = now


@dataclass
class CallState:
    call_id: str
    source: str  # "ari" | "agi"
    direction: str  # "inbound" | "outbound"
    agent: str
    campaign: str | None = None
    queue: str | None = None
    lead_list: str | None = None
    customer_number: str | None = None
    prospect_state: str | None = None
    phase: str = "initial"
    decision: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, str] = field(default_factory=dict)  # role -> channel id
    bridge_id: str = ""
    announced: bool = False
    bridged_at: float = 0.0
    segments_done: int = 0
    segment: Segment | None = None
    ended: bool = False
    created_at: float = field(default_factory=time.time)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def recording(self) -> bool:
        return self.segment is not None

    @property
    def paused(self) -> bool:
        return self.segment is not None and self.segment.paused

    def current_decision(self) -> Decision:
        return Decision.from_dict(self.decision)

    def facts(self, *, continue_recording: bool = False) -> dict[str, Any]:
        """The SPEC 2.2 call facts for the policy, from what this call knows."""
        return {
            "call_id": self.call_id,
            "direction": self.direction,
            "agent": self.agent,
            "campaign": self.campaign,
            "lead_list": self.lead_list,
            "queue": self.queue,
            "prospect": {"number": self.customer_number, "state": self.prospect_state},
            "phase": self.phase,
            "continue_recording": continue_recording,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallState:
        data = dict(data)
        seg = data.pop("segment", None)
        call = cls(**data)
        if seg:
            caps = {k: Capture(**v) for k, v in seg.pop("captures", {}).items()}
            call.segment = Segment(**seg, captures=caps)
        return call
