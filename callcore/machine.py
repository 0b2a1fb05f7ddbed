"""The life of one call as an explicit, pure state machine both call paths drive.

Each state is a class; :meth:`CallPhase.on` takes an event and returns the next
state (a new object: states are immutable) and the effects the adapter must
carry out (start/stop/mute a capture, ask the policy, play a tone, deliver a
segment, end the call). Nothing here does I/O, awaits or reads a clock, so the
same event stream always gives the same transitions: recorded Asterisk
streams replay through it in tests. Every transition is logged as
``call_id from -> event -> to``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from callcore.events import (
    Action,
    AgentAction,
    AgentLeft,
    AgentToggle,
    CaptureFailed,
    CaptureStarted,
    CaptureStopped,
    Decide,
    DecideConsulted,
    Decided,
    DeliverSegment,
    Effect,
    EndCall,
    Event,
    HungUp,
    Legs,
    MuteCapture,
    PartyArrived,
    PlayPrompt,
    PlayRefusal,
    Reconnected,
    StartCapture,
    StopCapture,
    TransferAbandoned,
    TransferCompleted,
    TransferStarted,
    describe,
)
from callcore.state import CallState, TransferWait
from policy import Decision, allowed_action

log = logging.getLogger("callrec.machine")

# Refusals the machine adds to the policy's (same shape: a stable rule id).
DECISION_PENDING = "action.decision_pending"
CAPTURE_BUSY = "action.capture_busy"
TRANSFER_IN_PROGRESS = "action.transfer_in_progress"

Step = tuple["CallPhase", list[Effect]]


@dataclass(frozen=True)
class CallContext:
    """What every state of a call knows; copied forward by each transition."""

    call_id: str
    agent: str
    phase: str = "initial"  # "initial" | "post_transfer" (SPEC 2.5)
    decision: Decision | None = None
    segments: int = 0  # segments started so far; the next one is segments + 1
    present: frozenset[str] = frozenset()
    announcement: str | None = None  # played once to the customer before bridging
    announced: bool = False
    transfer: TransferStarted | TransferCompleted | None = None

    def transferred(self, done: TransferCompleted) -> CallContext:
        """B's turn: A's decision no longer applies; B's follows (SPEC 2.5)."""
        return replace(self, agent=done.agent, phase="post_transfer", decision=None, transfer=None)


@dataclass(frozen=True)
class CallPhase:
    """A state of the call. Subclasses override the events they react to."""

    ctx: CallContext
    name: ClassVar[str] = "?"
    capturing: ClassVar[bool] = False  # a segment is live (starting, recording, paused)

    def on(self, event: Event) -> Step:
        if isinstance(event, HungUp):
            return self.hung_up(event.at)
        if isinstance(event, Reconnected) and not event.parties_alive:
            return self.hung_up(None)
        if isinstance(event, AgentToggle):
            return self.on(AgentAction(self.toggled(event)))
        if isinstance(event, AgentAction):
            return self.refuse(event.action, self.busy_rule())
        return self, []

    # Defaults each state refines.
    def hung_up(self, at: float | None) -> Step:
        return Ended(self.ctx), [EndCall()]

    def busy_rule(self) -> str:
        return CAPTURE_BUSY

    def toggled(self, event: AgentToggle) -> Action:
        if event.toggle == "toggle_record":
            return "stop" if self.capturing else "start"
        return "resume" if isinstance(self, Paused) else "pause"

    def refuse(self, action: str, rule: str) -> Step:
        return self, [PlayRefusal(action, rule)]

    @property
    def label(self) -> str:
        """The name, with what distinguishes variants of one state."""
        return self.name

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Dialling(CallPhase):
    """Parties are being reached; nothing is decided or recorded yet."""

    name: ClassVar[str] = "dialling"

    def on(self, event: Event) -> Step:
        if isinstance(event, PartyArrived):
            ctx = replace(self.ctx, present=self.ctx.present | {event.role})
            effects: list[Effect] = []
            prompt = ctx.announcement
            if event.role == "customer" and prompt and not ctx.announced:
                ctx = replace(ctx, announced=True)
                effects.append(PlayPrompt(prompt))
            if {"agent", "customer"} <= ctx.present:
                effects.append(Decide(ctx.phase, ctx.agent, False))
                return Bridged(ctx), effects
            return Dialling(ctx), effects
        if isinstance(event, AgentAction | AgentToggle):
            return self.refuse(_action(self, event), DECISION_PENDING)
        return super().on(event)


@dataclass(frozen=True)
class Bridged(CallPhase):
    """Agent and customer talk; no segment is being recorded."""

    name: ClassVar[str] = "bridged"

    def on(self, event: Event) -> Step:
        ctx = self.ctx
        if isinstance(event, Decided):
            ctx = replace(ctx, decision=event.decision)
            if event.decision.autostart and event.decision.legs != "none":
                return _start(ctx)
            return Bridged(ctx), []
        if isinstance(event, AgentAction):
            if ctx.decision is None:
                return self.refuse(event.action, DECISION_PENDING)
            ok, rule = allowed_action(ctx.decision, event.action, False, False)
            if not ok:
                return self.refuse(event.action, rule or "action.refused")
            return _start(ctx)  # only "start" is allowed with nothing recording
        if isinstance(event, TransferStarted):
            return Consulting(replace(ctx, transfer=event)), _provisional(event)
        if isinstance(event, AgentLeft):  # the customer waits for the next agent
            return Consulting(ctx), []
        if isinstance(event, TransferCompleted):
            return _after_transfer(ctx, event)
        return super().on(event)


@dataclass(frozen=True)
class _Live(CallPhase):
    """A segment exists: its legs are starting, recording or paused."""

    segment_no: int = 0
    legs: Legs = ()
    capturing: ClassVar[bool] = True

    def hung_up(self, at: float | None) -> Step:
        return Ending(self.ctx, self.segment_no, self.legs), [StopCapture(self.segment_no, at)]

    def stop(self, then: Then) -> Step:
        return Stopping(self.ctx, self.segment_no, self.legs, then), [StopCapture(self.segment_no)]

    def on(self, event: Event) -> Step:
        ctx = self.ctx
        if isinstance(event, AgentAction):
            if ctx.decision is None:  # a recovered call without its decision
                return self.refuse(event.action, DECISION_PENDING)
            ok, rule = allowed_action(ctx.decision, event.action, True, isinstance(self, Paused))
            if not ok:
                return self.refuse(event.action, rule or "action.refused")
            return self.act(event.action)
        if isinstance(event, TransferStarted):
            ctx = replace(ctx, transfer=event)
            if event.consult:
                paused = isinstance(self, Paused)
                return Consulting(ctx, self.segment_no, self.legs, paused), _provisional(event)
            return replace(self, ctx=ctx).stop("consulting")
        if isinstance(event, TransferCompleted):  # done inside Asterisk, unannounced
            return replace(self, ctx=replace(ctx, transfer=event)).stop("transferred")
        if isinstance(event, AgentLeft):  # the segment ends; the customer waits
            return self.stop("consulting")
        if isinstance(event, CaptureFailed) and event.segment_no == self.segment_no:
            return self.stop("bridged")
        if isinstance(event, CaptureStopped) and event.segment_no == self.segment_no:
            # Ended on its own (a spied party hung up first): the files are complete.
            return Bridged(ctx), [DeliverSegment(self.segment_no)]
        if isinstance(event, Reconnected) and event.parties_alive and not event.capturing:
            return self.stop("bridged")  # the capture died while we were away
        return super().on(event)

    def act(self, action: Action) -> Step:
        if action == "stop":
            return self.stop("bridged")
        return self.refuse(action, CAPTURE_BUSY)


@dataclass(frozen=True)
class Starting(_Live):
    """The legs' captures were asked for and have not all started yet."""

    name: ClassVar[str] = "starting"

    def on(self, event: Event) -> Step:
        if isinstance(event, CaptureStarted) and event.segment_no == self.segment_no:
            return Recording(self.ctx, self.segment_no, self.legs), []
        return super().on(event)


@dataclass(frozen=True)
class Recording(_Live):
    name: ClassVar[str] = "recording"

    def act(self, action: Action) -> Step:
        if action == "pause":
            return Paused(self.ctx, self.segment_no, self.legs), [
                MuteCapture(self.segment_no, True)
            ]
        return super().act(action)


@dataclass(frozen=True)
class Paused(_Live):
    """Recording muted: silence is written so the timeline is kept."""

    name: ClassVar[str] = "paused"

    def act(self, action: Action) -> Step:
        if action == "resume":
            return Recording(self.ctx, self.segment_no, self.legs), [
                MuteCapture(self.segment_no, False)
            ]
        return super().act(action)


@dataclass(frozen=True)
class Consulting(CallPhase):
    """A transfer is under way; an attended one keeps the segment running."""

    segment_no: int = 0  # 0: no segment runs during the consultation
    legs: Legs = ()
    paused: bool = False
    name: ClassVar[str] = "consulting"

    @property
    def label(self) -> str:
        return f"consulting ({'segment runs' if self.segment_no else 'no segment'})"

    def busy_rule(self) -> str:
        return TRANSFER_IN_PROGRESS

    def hung_up(self, at: float | None) -> Step:
        if self.segment_no:
            return Ending(self.ctx, self.segment_no, self.legs), [StopCapture(self.segment_no, at)]
        return super().hung_up(at)

    def on(self, event: Event) -> Step:
        if isinstance(event, TransferStarted) and event.consult:
            # The agent consults someone else instead: that one's outputs now.
            return replace(self, ctx=replace(self.ctx, transfer=event)), _provisional(event)
        if isinstance(event, TransferCompleted):
            if self.segment_no:
                ctx = replace(self.ctx, transfer=event)
                return Stopping(ctx, self.segment_no, self.legs, "transferred"), [
                    StopCapture(self.segment_no)
                ]
            return _after_transfer(self.ctx, event)
        if isinstance(event, TransferAbandoned):
            ctx = replace(self.ctx, transfer=None)
            if not self.segment_no:
                return Bridged(ctx), []
            back = Paused if self.paused else Recording
            return back(ctx, self.segment_no, self.legs), []
        if isinstance(event, CaptureStopped) and self.segment_no == event.segment_no:
            return replace(self, segment_no=0, legs=()), [DeliverSegment(event.segment_no)]
        failed = isinstance(event, CaptureFailed) and event.segment_no == self.segment_no
        died = isinstance(event, Reconnected) and event.parties_alive and not event.capturing
        if self.segment_no and (failed or died):
            # Keep consulting; what was captured is delivered once stopped.
            return Stopping(self.ctx, self.segment_no, self.legs, "consulting"), [
                StopCapture(self.segment_no)
            ]
        return super().on(event)


Then = Literal["bridged", "consulting", "transferred"]


@dataclass(frozen=True)
class Stopping(CallPhase):
    """A segment's captures are stopping; then the call goes on (``then``)."""

    segment_no: int = 0
    legs: Legs = ()
    then: Then = "bridged"
    name: ClassVar[str] = "stopping"

    @property
    def label(self) -> str:
        return f"stopping (then {self.then})"

    def hung_up(self, at: float | None) -> Step:
        return Ending(self.ctx, self.segment_no, self.legs), []  # the stop is under way

    def on(self, event: Event) -> Step:
        ctx = self.ctx
        if isinstance(event, CaptureStopped) and event.segment_no == self.segment_no:
            effects: list[Effect] = [DeliverSegment(self.segment_no)]
            if self.then == "consulting":
                return Consulting(ctx), effects
            if self.then == "transferred" and isinstance(ctx.transfer, TransferCompleted):
                nxt, more = _after_transfer(ctx, ctx.transfer)
                return nxt, effects + more
            return Bridged(ctx), effects
        if isinstance(event, TransferCompleted):
            return replace(self, ctx=replace(ctx, transfer=event), then="transferred"), []
        if isinstance(event, TransferAbandoned) and self.then == "consulting":
            return replace(self, ctx=replace(ctx, transfer=None), then="bridged"), []
        return super().on(event)


@dataclass(frozen=True)
class Ending(CallPhase):
    """The call is over; its last segment's files are being completed."""

    segment_no: int = 0
    legs: Legs = ()
    name: ClassVar[str] = "ending"

    def hung_up(self, at: float | None) -> Step:
        return self, []

    def on(self, event: Event) -> Step:
        if isinstance(event, CaptureStopped) and event.segment_no == self.segment_no:
            return Ended(self.ctx), [DeliverSegment(self.segment_no), EndCall()]
        return super().on(event)


@dataclass(frozen=True)
class Ended(CallPhase):
    """Nothing more happens; late events are ignored."""

    name: ClassVar[str] = "ended"

    def hung_up(self, at: float | None) -> Step:
        return self, []

    def on(self, event: Event) -> Step:
        if isinstance(event, AgentAction | AgentToggle):
            return self.refuse(_action(self, event), "call.ended")
        return super().on(event)


STATES: tuple[type[CallPhase], ...] = (
    Dialling,
    Bridged,
    Starting,
    Recording,
    Paused,
    Consulting,
    Stopping,
    Ending,
    Ended,
)


def _action(state: CallPhase, event: AgentAction | AgentToggle) -> str:
    return event.action if isinstance(event, AgentAction) else state.toggled(event)


def _start(ctx: CallContext) -> Step:
    assert ctx.decision is not None
    legs: Legs = ("agent",) if ctx.decision.legs == "agent" else ("agent", "customer")
    no = ctx.segments + 1
    ctx = replace(ctx, segments=no)
    return Starting(ctx, no, legs), [StartCapture(no, legs)]


def _provisional(started: TransferStarted) -> list[Effect]:
    """A consulted agent's decision, for its channel's outputs (SPEC 2.5)."""
    if not started.consult:
        return []
    return [DecideConsulted(started.agent, started.continue_recording)]


def _after_transfer(ctx: CallContext, done: TransferCompleted) -> Step:
    ctx = ctx.transferred(done)
    return Bridged(ctx), [Decide(ctx.phase, ctx.agent, done.continue_recording)]


def consulting(state: CallPhase) -> TransferWait | None:
    """What :func:`resume` needs of a consulting state; None for any other.

    An adapter stores it in ``CallState.consulting`` after every step, so a
    restart in the middle of a consultation resumes it (with or without the
    segment, which the call's ``segment`` carries).
    """
    if not isinstance(state, Consulting):
        return None
    t = state.ctx.transfer
    if isinstance(t, TransferStarted):
        return TransferWait(t.agent, t.continue_recording, t.consult)
    return TransferWait()


def resume(call: CallState) -> CallPhase:
    """The state of a call rebuilt from what was persisted (restart, reconnect).

    Only resting states are persisted: an adapter carries out each event's
    effects to the end under the call's lock, so no call is saved half-way
    through starting or stopping a capture. A consultation is a resting
    state: ``call.consulting`` says the call was in one.
    """
    ctx = CallContext(
        call.call_id,
        call.agent,
        phase=call.phase,
        decision=call.decision,
        segments=call.segments,
        present=frozenset(call.in_bridge),
        announced=call.announced,
    )
    seg = call.segment
    if call.ended:
        return Ended(ctx)
    wait = call.consulting
    if wait is not None:
        if wait.agent:
            ctx = replace(ctx, transfer=TransferStarted(wait.agent, wait.continue_recording,
                                                        consult=wait.consult))  # fmt: skip
        if seg is None:
            return Consulting(ctx)
        legs_: Legs = ("agent", "customer") if seg.legs == "both" else ("agent",)
        return Consulting(ctx, seg.segment_no, legs_, seg.paused)
    if seg is not None:
        legs: Legs = ("agent", "customer") if seg.legs == "both" else ("agent",)
        live = Paused if seg.paused else Recording
        return live(ctx, seg.segment_no, legs)
    if call.decision is not None or {"agent", "customer"} <= ctx.present:
        return Bridged(ctx)
    return Dialling(ctx)


def step(state: CallPhase, event: Event) -> Step:
    """One transition, logged ``call_id from -> event -> to``."""
    nxt, effects = state.on(event)
    log.info(
        "%s %s -> %s -> %s",
        state.ctx.call_id,
        state.name,
        describe(event),
        nxt.name,
        extra={"call_id": state.ctx.call_id},
    )
    return nxt, effects


@dataclass
class CallMachine:
    """One call's current state; ``feed`` moves it and returns the effects."""

    state: CallPhase

    @classmethod
    def new(cls, call_id: str, agent: str, announcement: str | None = None) -> CallMachine:
        return cls(Dialling(CallContext(call_id, agent, announcement=announcement)))

    def feed(self, event: Event) -> list[Effect]:
        self.state, effects = step(self.state, event)
        return effects
