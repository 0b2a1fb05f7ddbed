"""What goes into the call state machine (events) and what comes out (effects).

Both call paths translate what Asterisk tells them (ARI websocket events, AMI
events, AGI requests) and what agents ask (DTMF, the HTTP API) into these
events, and carry out the effects the machine returns. Everything here is
plain data: no I/O, no clock, so a recorded event stream replays exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from policy import Decision

Role = Literal["agent", "customer"]
Action = Literal["start", "stop", "pause", "resume"]
Toggle = Literal["toggle_record", "toggle_pause"]
Legs = tuple[Role, ...]


# ----------------------------------------------------------------- events


@dataclass(frozen=True)
class PartyArrived:
    """A party's channel is up and in the call (answered, in the bridge)."""

    role: Role


@dataclass(frozen=True)
class HungUp:
    """A party left the call for good (not a transferred-away agent)."""

    role: Role
    at: float | None = None  # when, by Asterisk's clock; None: now


@dataclass(frozen=True)
class Decided:
    """The policy's answer to a :class:`Decide` effect."""

    decision: Decision


@dataclass(frozen=True)
class AgentAction:
    """Start/stop/pause/resume from the HTTP API or an agent's keys."""

    action: Action


@dataclass(frozen=True)
class AgentToggle:
    """A DTMF toggle: turned into start/stop or pause/resume by the state."""

    toggle: Toggle


@dataclass(frozen=True)
class TransferStarted:
    """The agent began handing the customer to ``agent``.

    ``consult``: the agent talks to the target first (attended) and the
    segment goes on until the transfer completes; otherwise (API, blind) the
    segment ends now.
    """

    agent: str
    continue_recording: bool
    consult: bool = False


@dataclass(frozen=True)
class TransferCompleted:
    """The new agent has the customer (API transfer answered, Asterisk's own)."""

    agent: str
    continue_recording: bool


@dataclass(frozen=True)
class TransferAbandoned:
    """The consultation ended without a transfer: the first agent keeps the call."""


@dataclass(frozen=True)
class AgentLeft:
    """The agent's channel left while the customer's stays (dialplan path: the
    dialplan may hand the customer to another agent, whose answer then
    completes like a transfer). Not the call's end: the customer's is."""


@dataclass(frozen=True)
class CaptureStarted:
    """Every leg of the segment is capturing."""

    segment_no: int


@dataclass(frozen=True)
class CaptureStopped:
    """Every leg's file is complete on disk (or known lost)."""

    segment_no: int


@dataclass(frozen=True)
class CaptureFailed:
    """The capture could not start, or died: what was captured is kept."""

    segment_no: int
    reason: str


@dataclass(frozen=True)
class Reconnected:
    """The link to Asterisk came back; what Asterisk reports about this call."""

    parties_alive: bool
    capturing: bool


Event = (
    PartyArrived
    | HungUp
    | Decided
    | AgentAction
    | AgentToggle
    | TransferStarted
    | TransferCompleted
    | TransferAbandoned
    | AgentLeft
    | CaptureStarted
    | CaptureStopped
    | CaptureFailed
    | Reconnected
)


# ---------------------------------------------------------------- effects


@dataclass(frozen=True)
class Decide:
    """Ask the policy for a decision; answer with :class:`Decided`."""

    phase: str
    agent: str
    continue_recording: bool


@dataclass(frozen=True)
class DecideConsulted:
    """Decide for the agent being consulted (attended transfer), for its outputs only.

    The call's decision stays the current agent's until the transfer
    completes (then :class:`Decide`, phase post_transfer); nothing is fed back.
    """

    agent: str
    continue_recording: bool


@dataclass(frozen=True)
class StartCapture:
    """Capture these legs as segment ``segment_no``; answer with CaptureStarted/Failed."""

    segment_no: int
    legs: Legs


@dataclass(frozen=True)
class StopCapture:
    """Stop every leg of the segment and wait for complete files; answer CaptureStopped."""

    segment_no: int
    at: float | None = None


@dataclass(frozen=True)
class MuteCapture:
    """Pause (muted) or resume the segment's capture, keeping its timeline."""

    segment_no: int
    muted: bool


@dataclass(frozen=True)
class PlayPrompt:
    prompt: str


@dataclass(frozen=True)
class PlayRefusal:
    """The short error tone to the agent: ``rule`` refused ``action``."""

    action: str
    rule: str


@dataclass(frozen=True)
class DeliverSegment:
    """Hand the stopped segment to the finisher (files complete on disk)."""

    segment_no: int


@dataclass(frozen=True)
class EndCall:
    """Hang up what is left, forget the call and everything held for it."""


Effect = (
    Decide
    | DecideConsulted
    | StartCapture
    | StopCapture
    | MuteCapture
    | PlayPrompt
    | PlayRefusal
    | DeliverSegment
    | EndCall
)

EVENT_TYPES: tuple[type, ...] = (
    PartyArrived,
    HungUp,
    Decided,
    AgentAction,
    AgentToggle,
    TransferStarted,
    TransferCompleted,
    TransferAbandoned,
    AgentLeft,
    CaptureStarted,
    CaptureStopped,
    CaptureFailed,
    Reconnected,
)


def describe(event: Event) -> str:
    """Short text for the transition log: the event's name and payload."""
    fields = ", ".join(
        f"{k}={getattr(event, k)!r}" for k in event.__dataclass_fields__ if k != "decision"
    )
    if isinstance(event, Decided):
        fields = f"legs={event.decision.legs}, autostart={event.decision.autostart}"
    return f"{type(event).__name__}({fields})"
