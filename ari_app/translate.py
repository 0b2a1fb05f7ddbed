"""ARI events -> call machine events: the Stasis path's half of the adapter.

Pure bookkeeping, no I/O: which channel plays which role in which call,
which recording belongs to which segment, which agent was transferred away,
DTMF digits -> toggles. The Stasis app tells it what it set up (calls,
captures, API requests); the replay tests feed it recorded streams, where
the same facts arrive as ``Callrec*`` records written beside the ARI events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ari_app.capture import RECORDING_PREFIX, event_time
from ari_app.dtmf import DtmfMatcher
from callcore.events import (
    AgentAction,
    AgentToggle,
    CaptureFailed,
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
from callcore.ids import CONTINUE_VAR, is_true, safe_id

Out = list[tuple[str, Event]]
GONE = ("StasisEnd", "ChannelDestroyed", "ChannelHangupRequest")
TRANSFER_EVENT_WAIT = 2.0  # s: Bridge*Transfer may follow the new party's StasisStart


@dataclass
class _Capture:
    segment_no: int
    legs: tuple[str, ...]
    started: set[str] = field(default_factory=set)
    finished: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class NativeTransfer:
    """What the events said of a transfer done inside Asterisk, for the app to refine.

    The events name the new agent only by extension and carry the
    transferring agent's checkbox only if a ``ChannelVarset`` was seen; the
    live app may read ``CALLREC_AGENT`` on ``channel`` (or the consultation's
    ``target``) and fall back to reading the checkbox when ``flag_seen`` is
    false.
    """

    old: str  # the transferring agent's channel, replaced in our bridge
    channel: str  # the channel Asterisk put in its place
    target: str  # attended: the consultation's target channel ("" if blind)
    flag_seen: bool


@dataclass
class _Call:
    call_id: str
    channels: dict[str, str] = field(default_factory=dict)  # role -> channel id
    previous: set[str] = field(default_factory=set)  # agents transferred away
    pending: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    captures: dict[str, _Capture] = field(default_factory=dict)  # recording id ->
    transfer: TransferStarted | None = None
    continue_flag: str | None = None
    transfer_event: dict[str, Any] | None = None
    replacing: tuple[float, dict[str, Any]] | None = None  # waiting for the transfer event
    replaced: str = ""  # the agent channel the pending native transfer replaces
    native: NativeTransfer | None = None  # the last one completed, until the app takes it


class AriTranslator:
    def __init__(self, dtmf: Mapping[str, str], dtmf_timeout: float = 2.0) -> None:
        self.dtmf = dict(dtmf)
        self.dtmf_timeout = dtmf_timeout
        self.calls: dict[str, _Call] = {}
        self._by_channel: dict[str, str] = {}
        self._matchers: dict[str, DtmfMatcher] = {}
        self._inbound: set[str] = set()  # callers in Stasis before their call was set up

    # ------------------------------------------------ what the app set up

    def add_call(self, call_id: str, channels: Mapping[str, str]) -> None:
        call = self.calls.setdefault(call_id, _Call(call_id))
        for role, channel in channels.items():
            call.channels[role] = channel
            self._by_channel[channel] = call_id

    def expect_capture(self, call_id: str, segment_no: int, legs: tuple[str, ...]) -> None:
        """A StartCapture effect: the next new recording id of the call is this segment."""
        if call_id in self.calls:
            self.calls[call_id].pending.append((segment_no, legs))

    def capture_done(self, call_id: str, segment_no: int) -> bool:
        """Has every started leg of the segment reported RecordingFinished?"""
        call = self.calls.get(call_id)
        for cap in call.captures.values() if call else ():
            if cap.segment_no == segment_no:
                return cap.started <= cap.finished
        return False

    def call_of(self, channel: str) -> str | None:
        """The call a channel belongs to (a party, a transferred-away agent, a transfer)."""
        return self._by_channel.get(channel)

    def parties_of(self, call_id: str) -> list[str]:
        """The call's channels as the events tell them (a transferred-in agent included)."""
        call = self.calls.get(call_id)
        return list(dict.fromkeys(call.channels.values())) if call else []

    def drop_transfer(self, call_id: str, channel: str) -> None:
        """An API transfer failed: its channel no longer belongs to the call."""
        call = self.calls.get(call_id)
        if call is not None and call.channels.get("transfer") == channel:
            del call.channels["transfer"]
            call.transfer = None
            if channel not in call.channels.values():
                self._by_channel.pop(channel, None)

    def take_native(self, call_id: str) -> NativeTransfer | None:
        """The facts of the native transfer just completed (once)."""
        call = self.calls.get(call_id)
        if call is None:
            return None
        native, call.native = call.native, None
        return native

    def replacing(self, call_id: str) -> bool:
        """Is a transfer inside Asterisk waiting for its Bridge*Transfer event?"""
        call = self.calls.get(call_id)
        return bool(call and call.replacing)

    def overdue(self, now: float) -> Out:
        """Transfers whose Bridge*Transfer event never came by ``now``: complete them."""
        out: Out = []
        for call in self.calls.values():
            if call.replacing and now - call.replacing[0] > TRANSFER_EVENT_WAIT:
                out += self._native_done(call)
        return out

    def forget(self, call_id: str) -> None:
        """The call ended: drop everything held for it."""
        call = self.calls.pop(call_id, None)
        if call is not None:
            for channel in (*call.channels.values(), *call.previous):
                self._by_channel.pop(channel, None)
        self._matchers.pop(call_id, None)

    # -------------------------------------------------------------- events

    def feed(self, event: Mapping[str, Any]) -> Out:
        kind = str(event.get("type", ""))
        handler = getattr(self, f"_on_{kind}", None)
        out: Out = self._overdue(event)
        if handler is not None:
            out += handler(event)
        elif kind in GONE:
            out += self._gone(event)
        elif kind in ("BridgeBlindTransfer", "BridgeAttendedTransfer"):
            out += self._transfer_event(event)
        return out

    def _overdue(self, event: Mapping[str, Any]) -> Out:
        """Transfers whose Bridge*Transfer event never came: complete them anyway."""
        if "timestamp" not in event:
            return []
        return self.overdue(event_time(dict(event)))

    def _on_CallrecCall(self, event: Mapping[str, Any]) -> Out:
        call_id = str(event["call_id"])
        self.add_call(call_id, event.get("channels") or {})
        customer = self.calls[call_id].channels.get("customer", "")
        if customer in self._inbound:
            self._inbound.discard(customer)
            return [(call_id, PartyArrived("customer"))]
        return []

    def _on_CallrecAction(self, event: Mapping[str, Any]) -> Out:
        return [(str(event["call_id"]), AgentAction(event["action"]))]

    def _on_CallrecTransfer(self, event: Mapping[str, Any]) -> Out:
        call = self.calls.get(str(event["call_id"]))
        if call is None:
            return []
        call.transfer = TransferStarted(str(event["agent"]), bool(event["continue_recording"]))
        if event.get("transfer_channel"):  # the live app names the channel it calls
            self.add_call(call.call_id, {"transfer": str(event["transfer_channel"])})
        return [(call.call_id, call.transfer)]

    def _on_CallrecConnected(self, event: Mapping[str, Any]) -> Out:
        alive = set(event.get("channels") or ())
        out: Out = []
        for call in self.calls.values():
            parties = [call.channels.get("agent"), call.channels.get("customer")]
            gone = any(p and p not in alive for p in parties)
            out.append((call.call_id, Reconnected(parties_alive=not gone, capturing=True)))
        return out

    def _on_StasisStart(self, event: Mapping[str, Any]) -> Out:
        args = list(event.get("args") or [])
        channel = str((event.get("channel") or {}).get("id", ""))
        replaced = str((event.get("replace_channel") or {}).get("id", ""))
        if args[:1] == ["call"] and len(args) >= 3:
            call = self.calls.get(str(args[1]))
            if call is None:
                return []
            if args[2] == "transfer":
                return self._replace_agent(call, channel, call.transfer)
            if args[2] not in ("agent", "customer"):
                return []
            self.add_call(call.call_id, {args[2]: channel})
            return [(call.call_id, PartyArrived(args[2]))]
        if args[:1] == ["inbound"]:
            call_id = self._by_channel.get(channel)
            if call_id is None:  # the app sets the call up on this very event
                self._inbound.add(channel)
                return []
            return [(call_id, PartyArrived("customer"))]
        if args[:1] == ["snoop"] and len(args) >= 4:
            self._snooped(str(args[1]), str(args[2]))
            return []
        if not args and replaced in self._by_channel:
            call = self.calls[self._by_channel[replaced]]
            if call.channels.get("agent") == replaced:
                # Asterisk put a new party in place of the agent (blind or
                # attended transfer inside Asterisk). Who it is, the
                # Bridge*Transfer event says; it may come just after this.
                call.replaced = replaced
                self._swap_agent(call, channel)
                call.replacing = (event_time(dict(event)), dict(event))
                return self._native_done(call) if call.transfer_event else []
        return []

    def _swap_agent(self, call: _Call, channel: str) -> None:
        old = call.channels.get("agent", "")
        if old:
            call.previous.add(old)  # its hangup, coming soon, ends nothing
        call.channels["agent"] = channel
        self._by_channel[channel] = call.call_id
        self._matchers.pop(call.call_id, None)

    def _native_done(self, call: _Call) -> Out:
        if call.replacing is None:
            return []
        event = call.replacing[1]
        agent = self._target_agent(call, event)
        done = TransferCompleted(agent, is_true(call.continue_flag))
        kept = call.transfer_event or {}
        target = kept.get("transfer_target") if kept.get("type") == "BridgeAttendedTransfer" else {}
        call.native = NativeTransfer(
            old=call.replaced,
            channel=str((event.get("channel") or {}).get("id", "")),
            target=str((target or {}).get("id", "")),
            flag_seen=call.continue_flag is not None,
        )
        call.replacing, call.continue_flag, call.transfer_event = None, None, None
        call.replaced = ""
        return [(call.call_id, done)]

    def _snooped(self, call_id: str, recording_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None or recording_id in call.captures or not call.pending:
            return
        segment_no, legs = call.pending.pop(0)
        call.captures[recording_id] = _Capture(segment_no, legs)

    def _replace_agent(self, call: _Call, channel: str, started: TransferStarted | None) -> Out:
        """The agent an API transfer called answered: it takes the agent's place."""
        self._swap_agent(call, channel)
        call.transfer = None
        if started is None:
            return []
        return [(call.call_id, TransferCompleted(started.agent, started.continue_recording))]

    def _target_agent(self, call: _Call, event: Mapping[str, Any]) -> str:
        """Who took a transfer done inside Asterisk, from what the events say.

        The Stasis app may know better (it reads CALLREC_AGENT); this is
        the extension dialled (blind) or of the consultation's target.
        """
        exten = str(((event.get("channel") or {}).get("dialplan") or {}).get("exten", ""))
        kept = call.transfer_event or {}
        if kept.get("type") == "BridgeAttendedTransfer":
            for leg in ("transfer_target", "transferer_second_leg"):  # what was dialled
                exten = str(((kept.get(leg) or {}).get("dialplan") or {}).get("exten", ""))
                if safe_id(exten) and exten != "s":
                    break
        elif kept.get("exten"):
            exten = str(kept["exten"])
        return exten if safe_id(exten) and not exten.startswith("_") else "unknown"

    def _transfer_event(self, event: Mapping[str, Any]) -> Out:
        channel = (event.get("channel") or event.get("transferer_first_leg") or {}).get("id", "")
        call_id = self._by_channel.get(str(channel))
        if call_id is None:
            return []
        call = self.calls[call_id]
        call.transfer_event = dict(event)
        return self._native_done(call)

    def _on_ChannelVarset(self, event: Mapping[str, Any]) -> Out:
        channel = str((event.get("channel") or {}).get("id", ""))
        call = self.calls.get(self._by_channel.get(channel, ""))
        agents = {call.channels.get("agent"), *call.previous} if call else set()
        if event.get("variable") == CONTINUE_VAR and call and channel in agents:
            call.continue_flag = str(event.get("value", ""))
        return []

    def _on_ChannelDtmfReceived(self, event: Mapping[str, Any]) -> Out:
        channel = str((event.get("channel") or {}).get("id", ""))
        call = self.calls.get(self._by_channel.get(channel, ""))
        if call is None or call.channels.get("agent") != channel:
            return []  # only the agent's keys control recording
        matcher = self._matchers.setdefault(call.call_id, DtmfMatcher(self.dtmf, self.dtmf_timeout))
        toggle = matcher.feed(str(event.get("digit", "")), event_time(dict(event)))
        if toggle == "toggle_record":
            return [(call.call_id, AgentToggle("toggle_record"))]
        if toggle == "toggle_pause":
            return [(call.call_id, AgentToggle("toggle_pause"))]
        return []

    def _recording(self, event: Mapping[str, Any]) -> tuple[_Call, _Capture, str] | None:
        name = str((event.get("recording") or {}).get("name", ""))
        stem = name.removeprefix(f"{RECORDING_PREFIX}/")
        recording_id, _, leg = stem.rpartition("-")
        for call in self.calls.values():
            if recording_id in call.captures:
                return call, call.captures[recording_id], leg
        return None

    def _on_RecordingStarted(self, event: Mapping[str, Any]) -> Out:
        found = self._recording(event)
        if found is None:
            return []
        call, cap, leg = found
        cap.started.add(leg)
        if set(cap.legs) <= cap.started:
            return [(call.call_id, CaptureStarted(cap.segment_no))]
        return []

    def _on_RecordingFinished(self, event: Mapping[str, Any]) -> Out:
        found = self._recording(event)
        if found is None:
            return []
        call, cap, leg = found
        cap.finished.add(leg)
        if set(cap.legs) <= cap.finished:
            return [(call.call_id, CaptureStopped(cap.segment_no))]
        return []

    def _on_RecordingFailed(self, event: Mapping[str, Any]) -> Out:
        found = self._recording(event)
        if found is None:
            return []
        call, cap, _ = found
        cause = str((event.get("recording") or {}).get("cause", "failed"))
        return [(call.call_id, CaptureFailed(cap.segment_no, cause))]

    def _gone(self, event: Mapping[str, Any]) -> Out:
        channel = str((event.get("channel") or {}).get("id", ""))
        self._inbound.discard(channel)
        call = self.calls.get(self._by_channel.get(channel, ""))
        if call is None or channel in call.previous:
            return []  # a transferred-away agent leaving is expected
        at = event_time(dict(event))
        if call.channels.get("agent") == channel:
            return [(call.call_id, HungUp("agent", at))]
        if call.channels.get("customer") == channel:
            return [(call.call_id, HungUp("customer", at))]
        if call.channels.get("transfer") == channel:
            # The agent an API transfer called left before answering: the
            # first agent keeps the call (its later events find nothing).
            self.drop_transfer(call.call_id, channel)
            return [(call.call_id, TransferAbandoned())]
        return []
