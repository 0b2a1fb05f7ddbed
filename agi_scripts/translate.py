"""AMI events and FastAGI requests -> call machine events: the dialplan path's half
of the adapter.

Pure bookkeeping, no I/O: which channel (by uniqueid) plays which role in
which call, which agent channel is being transferred away (its hangup is not
the call's end), which MixMonitor belongs to which segment, and the
transferring agent's checkbox. Its input is what the dialplan path hears, as
plain dicts: AMI events as Asterisk sent them (``Event``: Hangup,
BlindTransfer, AttendedTransfer, MixMonitorStart/Stop, UserEvent) and
callrec's own records (``type``): ``CallrecAgi`` (a FastAGI request: the
answer hook with the channel's facts and ``CALLREC_FROM_AGENT``, or a DTMF
toggle), ``CallrecAction`` and ``CallrecTransfer`` (the console's requests)
and ``CallrecConnected`` (the channels Asterisk has after an AMI reconnect).
The replay tests feed it recorded streams (``tests/replay/fixtures/ami``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from agi_scripts.facts import ChannelFacts, FactsError, parse_facts
from callcore.events import (
    AgentAction,
    AgentLeft,
    AgentToggle,
    CaptureStarted,
    CaptureStopped,
    Event,
    HungUp,
    PartyArrived,
    Reconnected,
    TransferAbandoned,
    TransferCompleted,
    TransferStarted,
)
from callcore.ids import is_true

# Set (inherited) on each agent's channel: a call that agent makes, such as an
# attended transfer's consultation, carries it. The agent's uniqueid, not a
# name, so it holds nothing an endpoint's name could add.
FROM_AGENT_VAR = "CALLREC_FROM_AGENT"
FROM_AGENT_EXPRESSION = f"${{FILTER(0-9.,${{{FROM_AGENT_VAR}}})}}"
# The answer hook's hangup handler reports the agent's transfer checkbox with
# this UserEvent, since the channel is gone before any AMI Getvar could read it.
CONTINUE_EVENT = "CallrecContinueRecording"
# Set by the live adapter on an AttendedTransfer it enriched with the
# transferring agent's checkbox (read through AMI while that channel is up).
CHECKBOX_FIELD = "CallrecContinue"
TOGGLES = {"toggle_record": "toggle_record", "toggle_pause": "toggle_pause"}

Record = Mapping[str, object]  # JSON-like: strings, a flag, a list of channels
Out = list[tuple[str, Event]]


@dataclass
class _Capture:
    segment_no: int
    channel: str
    started: bool = False
    stopped: bool = False
    stop_wanted: bool = False


@dataclass
class _Call:
    call_id: str
    facts: ChannelFacts | None  # None: taken back from saved state (restart)
    agent: str
    agent_channel: str
    customer: str
    consult: tuple[str, str] | None = None  # (uniqueid, agent) being consulted
    leaving: set[str] = field(default_factory=set)  # agent channels transferred away
    continue_recording: bool = False  # an API transfer's checkbox
    completing: str | None = None  # transferer of an AttendedTransfer waiting for its checkbox
    capture: _Capture | None = None
    ended: bool = False


class AmiTranslator:
    def __init__(self) -> None:
        self.calls: dict[str, _Call] = {}
        self.by_channel: dict[str, str] = {}  # agent, consulted agent or customer -> call id
        self.gone: set[str] = set()  # channels of ours whose Hangup came
        self.flags: dict[str, bool] = {}  # agent channel -> checkbox as it hung up

    # ---------------------------------------------------------------- ports
    def facts(self, call_id: str) -> ChannelFacts | None:
        """The first answer's facts of a call (what its machine starts from)."""
        call = self.calls.get(call_id)
        return call.facts if call else None

    def adopt(
        self,
        call_id: str,
        agent: str,
        agent_channel: str,
        customer: str,
        consult: tuple[str, str] | None = None,
    ) -> None:
        """A call taken back after a restart (its channels from the saved state).

        ``consult``: (uniqueid, agent) consulted when the last process stopped;
        its hangup abandons the transfer, an AttendedTransfer completes it.
        """
        self.calls[call_id] = _Call(call_id, None, agent, agent_channel, customer, consult)
        for channel in (agent_channel, customer, consult[0] if consult else ""):
            if channel:
                self.by_channel[channel] = call_id

    def roles(self, call_id: str) -> tuple[str, str, str, tuple[str, str] | None]:
        """(agent, agent channel, customer channel, consultation) as known now."""
        call = self.calls[call_id]
        return call.agent, call.agent_channel, call.customer, call.consult

    def expect_capture(self, call_id: str, segment_no: int, started: bool = False) -> None:
        """A MixMonitor was asked for on the call's current agent channel."""
        call = self.calls.get(call_id)
        if call is not None:
            call.capture = _Capture(segment_no, call.agent_channel, started=started)

    def stopped(self, call_id: str, segment_no: int) -> None:
        """The adapter stopped the segment's MixMonitor itself (no event to wait for)."""
        call = self.calls.get(call_id)
        if call is not None and call.capture and call.capture.segment_no == segment_no:
            call.capture.stopped = True

    def capture_channel(self, call_id: str, segment_no: int) -> str:
        """The channel the segment's MixMonitor records ("" if unknown)."""
        call = self.calls.get(call_id)
        cap = call.capture if call else None
        return cap.channel if cap is not None and cap.segment_no == segment_no else ""

    def capture_done(self, call_id: str, segment_no: int) -> bool:
        """True if the segment's MixMonitor already ended (stopped, or its channel left);
        else ``CaptureStopped`` comes out of :meth:`feed` when it does."""
        call = self.calls.get(call_id)
        cap = call.capture if call else None
        if cap is None or cap.segment_no != segment_no:
            return True
        if cap.stopped or cap.channel in self.gone:
            return True
        cap.stop_wanted = True
        return False

    def forget(self, call_id: str) -> list[str]:
        """Drop everything held for the call; returns the channels it had."""
        self.calls.pop(call_id, None)
        channels = [c for c, owner in self.by_channel.items() if owner == call_id]
        for channel in channels:
            self.by_channel.pop(channel, None)
            self.gone.discard(channel)
            self.flags.pop(channel, None)
        return channels

    def completing(self, call_id: str) -> str | None:
        """The transferring agent whose AttendedTransfer waits for its checkbox."""
        call = self.calls.get(call_id)
        return call.completing if call else None

    # ---------------------------------------------------------------- input
    def feed(self, record: Record) -> Out:
        kind = str(record.get("type") or record.get("Event") or "")
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            return []
        out: Out = handler(record)
        return out

    def _on_CallrecAgi(self, r: Record) -> Out:
        script = str(r.get("script", ""))
        uniqueid = str(r.get("uniqueid", ""))
        if script == "answer":
            given = str(r.get("call_id") or "")  # the adapter's new id for a call without one
            raw, via = str(r.get("facts", "")), str(r.get("from_agent", ""))
            checkbox = is_true(str(r.get(CHECKBOX_FIELD, "")))  # the consulting agent's
            return self._answer(uniqueid, raw, via, given, checkbox)
        call = self.calls.get(str(r.get("call_id", "")))
        if script not in TOGGLES or call is None or uniqueid != call.agent_channel:
            return []  # refused by the adapter (unknown call, not the current agent)
        return [(call.call_id, AgentToggle(script))]  # type: ignore[arg-type]

    def _answer(self, uniqueid: str, raw: str, via: str, given: str, checkbox: bool) -> Out:
        try:
            facts = parse_facts(raw)
        except FactsError:
            return []
        cid = facts.call_id or given
        if not cid:
            return []
        call = self.calls.get(cid)
        if call is None:
            customer = facts.customer_uniqueid or ""
            self.calls[cid] = _Call(cid, facts, facts.agent, uniqueid, customer)
            self.by_channel[uniqueid] = cid
            if customer:
                self.by_channel[customer] = cid
            return [(cid, PartyArrived("customer")), (cid, PartyArrived("agent"))]
        if uniqueid in (call.agent_channel, call.consult[0] if call.consult else ""):
            return []  # the same answer again
        self.by_channel[uniqueid] = cid
        old = call.agent_channel
        if via == old and old not in self.gone:
            # Dialled by the current agent, who is still up: a consultation.
            if call.consult is not None:
                self.by_channel.pop(call.consult[0], None)
            call.consult = (uniqueid, facts.agent)
            return [(cid, TransferStarted(facts.agent, checkbox, consult=True))]
        # Blind (features, REFER, API): the customer reached a new agent.
        flag = call.continue_recording or self.flags.get(old, False) or facts.continue_recording
        call.continue_recording = False
        call.leaving.add(old)
        call.agent, call.agent_channel = facts.agent, uniqueid
        return [(cid, TransferCompleted(facts.agent, flag))]

    def _on_CallrecAction(self, r: Record) -> Out:
        cid = str(r.get("call_id", ""))
        action = str(r.get("action", ""))
        if cid not in self.calls or action not in ("start", "stop", "pause", "resume"):
            return []
        return [(cid, AgentAction(action))]  # type: ignore[arg-type]

    def _on_CallrecTransfer(self, r: Record) -> Out:
        call = self.calls.get(str(r.get("call_id", "")))
        if call is None:
            return []
        flag = bool(r.get("continue_recording"))
        call.continue_recording = flag
        call.leaving.add(call.agent_channel)  # the customer is redirected: the agent leaves
        return [(call.call_id, TransferStarted(str(r.get("agent", "")), flag))]

    def _on_BlindTransfer(self, r: Record) -> Out:
        call = self._of(str(r.get("TransfererUniqueid", "")))
        if call is None or r.get("Result") != "Success":
            return []
        call.leaving.add(call.agent_channel)
        return [(call.call_id, TransferStarted(str(r.get("Extension", "")), False))]

    def _on_AttendedTransfer(self, r: Record) -> Out:
        keys = ("OrigTransfererUniqueid", "SecondTransfererUniqueid", "TransfererUniqueid")
        for key in keys:
            call = self._of(str(r.get(key, "")))
            if call is not None and call.consult is not None:
                break
        else:
            return []
        if r.get("Result") != "Success":
            return []
        transferer = call.agent_channel
        checkbox = r.get(CHECKBOX_FIELD)
        if checkbox is not None:
            self.flags[transferer] = is_true(str(checkbox))
        elif transferer not in self.flags and transferer not in self.gone:
            call.completing = transferer  # its checkbox comes as it hangs up
            return []
        return self._complete(call)

    def _complete(self, call: _Call) -> Out:
        assert call.consult is not None
        old = call.agent_channel
        (uniqueid, agent), call.consult, call.completing = call.consult, None, None
        call.leaving.add(old)
        call.agent, call.agent_channel = agent, uniqueid
        return [(call.call_id, TransferCompleted(agent, self.flags.get(old, False)))]

    def _on_UserEvent(self, r: Record) -> Out:
        channel = str(r.get("Uniqueid", ""))
        if r.get("UserEvent") != CONTINUE_EVENT or channel not in self.by_channel:
            return []
        self.flags[channel] = is_true(str(r.get("Value", "")))
        call = self._of(channel)
        if call is not None and call.completing == channel:
            return self._complete(call)
        return []

    def _on_MixMonitorStart(self, r: Record) -> Out:
        call, cap = self._capture_on(str(r.get("Uniqueid", "")))
        if call is None or cap is None or cap.started:
            return []
        cap.started = True
        return [(call.call_id, CaptureStarted(cap.segment_no))]

    def _on_MixMonitorStop(self, r: Record) -> Out:
        call, cap = self._capture_on(str(r.get("Uniqueid", "")))
        if call is None or cap is None or not cap.started or cap.stopped:
            return []
        cap.stopped = True
        return [(call.call_id, CaptureStopped(cap.segment_no))]

    def _on_Hangup(self, r: Record) -> Out:
        return self._hangup(str(r.get("Uniqueid", "")))

    def _on_CallrecConnected(self, r: Record) -> Out:
        listed = r.get("channels")
        alive = {str(c) for c in listed} if isinstance(listed, list) else set()
        out: Out = []
        for call in list(self.calls.values()):
            known = [call.customer, call.agent_channel, call.consult[0] if call.consult else ""]
            for channel in known:
                if channel and channel not in alive and channel not in self.gone:
                    out += self._hangup(channel)  # its Hangup was lost while AMI was away
            if not call.ended and call.call_id in self.calls:
                cap = call.capture
                capturing = cap is not None and not cap.stopped
                out.append((call.call_id, Reconnected(True, capturing)))
        return out

    # -------------------------------------------------------------- helpers
    def _of(self, channel: str) -> _Call | None:
        cid = self.by_channel.get(channel)
        return self.calls.get(cid) if cid else None

    def _capture_on(self, channel: str) -> tuple[_Call | None, _Capture | None]:
        call = self._of(channel)
        cap = call.capture if call else None
        if cap is None or cap.channel != channel:
            return call, None
        return call, cap

    def _hangup(self, channel: str) -> Out:
        call = self._of(channel)
        if call is None or channel in self.gone:
            return []
        self.gone.add(channel)
        cid = call.call_id
        out: Out = []
        cap = call.capture
        if cap is not None and cap.channel == channel and not cap.stopped:
            cap.stopped = True  # MixMonitor closes its files as its channel goes
            if cap.stop_wanted:
                out.append((cid, CaptureStopped(cap.segment_no)))
        if call.consult is not None and channel == call.consult[0]:
            call.consult = None  # the consulted agent left before any transfer
            return [*out, (cid, TransferAbandoned())]
        if channel in call.leaving:
            return out  # transferred away: the call goes on
        if channel == call.agent_channel:
            if call.completing == channel:
                return out + self._complete(call)
            if call.consult is not None:
                call.completing = channel  # may complete the transfer (AttendedTransfer)
                return out
            if call.customer and call.customer not in self.gone:
                # The customer's channel goes on in the dialplan (e.g. a queue's
                # next member): its own hangup ends the call.
                return [*out, (cid, AgentLeft())]
            call.ended = True
            return [*out, (cid, HungUp("agent"))]
        if channel == call.customer:
            call.ended = True
            return [*out, (cid, HungUp("customer"))]
        return out
