"""The live state of a call and of its current recording segment.

One typed shape for both call paths, persisted (see ``callcore.state_store``)
after every change so a restarted service can pick a call up where it was:
nothing that must survive lives only in memory. Every field is named and
typed (no free-form bag), the decision is kept as the policy's
:class:`~policy.Decision`, and the file carries :data:`SCHEMA_VERSION`; files
of older versions are migrated on load (``callcore.state_migrate``).

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

SCHEMA_VERSION = 3


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
    decision: Decision
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
class PendingTransfer:
    """A transfer to ``agent`` under way (API transfer: the new agent's channel)."""

    agent: str
    continue_recording: bool
    channel: str = ""


@dataclass
class Consultation:
    """Dialplan path: the agent consulted by the current one (attended transfer)."""

    uniqueid: str
    name: str
    agent: str
    continue_recording: bool
    decision: Decision | None = None  # provisional: its outputs, until it takes over


@dataclass
class TransferWait:
    """The call machine is consulting: a transfer under way (``agent`` its target),
    or, with ``agent`` empty, the customer waiting for the next agent.

    Saved so that a restart in the middle of a consultation resumes it
    (``callcore.machine.resume``); the segment, if one runs, is ``CallState.segment``.
    """

    agent: str = ""
    continue_recording: bool = False
    consult: bool = False  # attended: the segment runs on until the transfer completes


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
    decision: Decision | None = None
    channels: dict[str, str] = field(default_factory=dict)  # role -> channel id
    bridge_id: str = ""
    announced: bool = False
    announcement: str | None = None  # the prompt played, if any
    bridged_at: float = 0.0
    segments: int = 0  # segments started so far; the next is segments + 1
    segment: Segment | None = None
    ended: bool = False
    created_at: float = field(default_factory=time.time)
    refusals: list[str] = field(default_factory=list)  # rule ids of refused agent actions
    transfer: PendingTransfer | None = None
    flags: list[str] = field(default_factory=list)  # carried onto every segment delivered
    # Stasis path: who is in the bridge, agents transferred away, and the
    # transferring agent's continue-recording value seen on its channel.
    in_bridge: list[str] = field(default_factory=list)
    previous_agents: list[str] = field(default_factory=list)
    continue_flag: str | None = None
    # Dialplan path: the agent's channel, a consultation, the MixMonitor id.
    agent_channel_name: str = ""
    agent_uniqueid: str = ""
    consult: Consultation | None = None
    continue_recording: bool = False
    mixmonitor_id: str = ""
    last_transfer: str = ""  # the AMI transfer event last seen (BlindTransfer, ...)
    consulting: TransferWait | None = None  # the machine's consulting state, both paths

    @property
    def recording(self) -> bool:
        return self.segment is not None

    @property
    def paused(self) -> bool:
        return self.segment is not None and self.segment.paused

    def current_decision(self) -> Decision:
        if self.decision is None:
            raise LookupError(f"call {self.call_id} has no decision yet")
        return self.decision

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
        data = asdict(self)
        data["decision"] = self.decision.to_dict() if self.decision else None
        if self.segment is not None:
            data["segment"]["decision"] = self.segment.decision.to_dict()
        if self.consult is not None and self.consult.decision is not None:
            data["consult"]["decision"] = self.consult.decision.to_dict()
        data["schema_version"] = SCHEMA_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallState:
        """Rebuild a call from a file of :data:`SCHEMA_VERSION` (see state_migrate)."""
        data = dict(data)
        version = data.pop("schema_version", None)
        if version != SCHEMA_VERSION:
            raise ValueError(f"state schema {version!r}, expected {SCHEMA_VERSION}")
        seg = data.pop("segment", None)
        decision = data.pop("decision", None)
        transfer = data.pop("transfer", None)
        consult = data.pop("consult", None)
        consulting = data.pop("consulting", None)
        call = cls(**data)
        call.consulting = TransferWait(**consulting) if consulting else None
        call.decision = Decision.from_dict(decision) if decision else None
        call.transfer = PendingTransfer(**transfer) if transfer else None
        if consult:
            consult = dict(consult)
            provisional = consult.pop("decision", None)
            call.consult = Consultation(**consult)
            call.consult.decision = Decision.from_dict(provisional) if provisional else None
        if seg:
            seg = dict(seg)
            caps = {k: Capture(**v) for k, v in seg.pop("captures", {}).items()}
            seg_decision = Decision.from_dict(seg.pop("decision"))
            call.segment = Segment(**seg, decision=seg_decision, captures=caps)
        return call
