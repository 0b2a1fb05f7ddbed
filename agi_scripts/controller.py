"""The dialplan-routed calls: decision at answer, segments, actions, transfers, hand-off.

One ``AgiController`` serves every call the FastAGI path sees and is the
``CallController`` the registry uses for them, so the HTTP API and the
console drive these calls exactly like Stasis calls. Actions arriving by DTMF
run inside the AGI session on the agent's channel; actions from the console
go through AMI. Either way ``callcore.check_action`` decides what is allowed.

A call is the customer's call; it has an agent channel at a time. A segment
is one MixMonitor on that agent channel: it ends on stop, on the agent's
hangup (transfers included) or on the call's end, and is handed to storage
once MixMonitor has closed its files.

Transfers done inside Asterisk reach us as a new agent answering with the
call's (inherited) CALLREC_CALL_ID. If the new channel also inherited the
current agent's CALLREC_FROM_AGENT, the current agent dialled it: the new
agent answered a consultation (attended transfer) and the current segment
goes on, and the new agent's segment starts when Asterisk
reports the transfer complete (AMI AttendedTransfer); a consultation that
ends without it leaves the call as it was. Otherwise the customer was
transferred (blind): the new agent's segment is decided at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from agi_scripts import mixmonitor
from agi_scripts.agi import AgiChannel
from agi_scripts.ami import Ami, AmiError
from agi_scripts.facts import (
    facts_expression,
    parse_facts,
    valid_agent_id,
    valid_call_id,
)
from callcore.actions import ActionRefused, toggle_to_action
from callcore.events import (
    AgentAction,
    AgentToggle,
    CaptureStarted,
    CaptureStopped,
    Event,
    MuteCapture,
    PlayRefusal,
    StartCapture,
    StopCapture,
)
from callcore.finish import Handoff
from callcore.ids import CONTINUE_VAR, is_true
from callcore.machine import CallMachine, resume
from callcore.registry import CallNotFound, CallRegistry
from callcore.state import CallState, Capture, Consultation, Segment
from callcore.state_store import StateStore
from callcore.waiters import Waiters
from policy import CallFacts, Config, Decision, decide
from storage.segment import new_recording_id

log = logging.getLogger("callrec.agi")

TRANSFER_CONTEXT = "callrec-agi-transfer"
# The answer hook's hangup handler reports the agent's transfer checkbox with
# this UserEvent, since the channel is gone before any AMI Getvar could read it.
CONTINUE_EVENT = "CallrecContinueRecording"
# Set (inherited) on each agent's channel: a call that agent makes, such as an
# attended transfer's consultation, carries it. The agent's uniqueid, not a
# name, so it holds nothing an endpoint's name could add.
FROM_AGENT_VAR = "CALLREC_FROM_AGENT"
# How long to wait for the AMI Hangup of a channel Asterisk already destroyed
# (the event and the AGI request race). Well inside the AGI deadline.
HANGUP_EVENT_WAIT = 1.5
_NOTE_TTL = 120.0


class AgiController:
    def __init__(
        self,
        *,
        policy: Callable[[], Config],
        registry: CallRegistry,
        handoff: Handoff,
        store: StateStore,
        monitor: mixmonitor.MonitorDir,
        ami: Ami,
        agent_dial: Callable[[str], str | None],
        close_timeout: float = 10.0,
    ) -> None:
        self.policy = policy
        self.registry = registry
        self.handoff = handoff
        self.store = store
        self.monitor = monitor
        self.ami = ami
        self.agent_dial = agent_dial
        self.close_timeout = close_timeout
        self.calls: dict[str, CallState] = {}
        self._by_channel: dict[str, str] = {}  # agent or customer uniqueid -> call id
        self._locks: dict[str, asyncio.Lock] = {}
        self._finishing: dict[str, set[asyncio.Task[None]]] = {}
        # Agent channels whose AMI Hangup we saw, and the checkbox each reported
        # on its way out (both noted in event order, before any await).
        self._gone: dict[str, float] = {}
        self.waiters = Waiters()
        self._flags: dict[str, bool] = {}
        ami.on("UserEvent", self._note_flag)
        ami.on("Hangup", self._note_hangup)
        ami.on("Hangup", self.on_hangup)
        ami.on("BlindTransfer", self.on_transfer)
        ami.on("AttendedTransfer", self.on_transfer)
        ami.on_reconnect(self.reconcile)

    # ------------------------------------------------------------ AGI entry

    async def answer(self, chan: AgiChannel) -> Decision:
        """Decide the agent's segment and start MixMonitor if the decision says so.

        Runs on the agent's channel right after answer. Sets the outputs
        first and CALLREC_STATUS=ok last: the dialplan treats anything else
        as a failure and runs the admin's fallback.
        """
        facts = parse_facts(await chan.get(facts_expression()))
        call_id = facts.call_id or uuid.uuid4().hex
        call = self.calls.get(call_id)
        continue_recording = False
        if call is None:
            call = CallState(
                call_id=call_id, source="agi", phase=facts.phase, **facts.as_call_fields()
            )
            if facts.phase == "post_transfer":
                continue_recording = facts.continue_recording
            self.calls[call_id] = call
            self._locks[call_id] = asyncio.Lock()
        async with self._locks[call_id]:
            previous = call.agent_uniqueid
            if previous and previous != chan.uniqueid:
                # A new agent on a known call: the transfer SPEC 2.4/2.5 speak of.
                via = await chan.get(f"${{FILTER(0-9.,${{{FROM_AGENT_VAR}}})}}")
                if via == previous:  # dialled by the current agent: a consultation
                    alive, flag = await self._agent_checkbox(previous)
                    if alive:  # (gone: it hung up first, the transfer is done)
                        return await self._consultation(call, chan, facts.agent, flag)
                # Blind: Asterisk hangs the old agent up on a thread of its own,
                # racing this answer; its Hangup event brings its checkbox first.
                await self._wait_gone(previous)
                if call.segment is not None:
                    self._end_segment(call)
                self._by_channel.pop(previous, None)
                call.consult = None
                call.phase = "post_transfer"
                call.agent = facts.agent
                keep, call.continue_recording = call.continue_recording, False
                continue_recording = bool(
                    keep or self._flags.pop(previous, False) or facts.continue_recording
                )
            # Channels by uniqueid: AMI events carry it and AMI actions accept it,
            # and unlike a channel name it holds nothing an endpoint's name can add.
            call.channels["agent"] = chan.uniqueid
            call.agent_channel_name = chan.name
            call.agent_uniqueid = chan.uniqueid
            self._by_channel[chan.uniqueid] = call_id
            if facts.customer_uniqueid and not call.channels.get("customer"):
                call.channels["customer"] = facts.customer_uniqueid
                self._by_channel[facts.customer_uniqueid] = call_id
            facts_in = CallFacts.from_dict(call.facts(continue_recording=continue_recording))
            decision = decide(self.policy(), facts_in)
            call.decision = decision
            await self._publish(chan.set, call_id, decision, call.phase)
            await chan.set(f"__{FROM_AGENT_VAR}", chan.uniqueid)
            if decision.autostart:
                await self._start(call, chan)
            await chan.set(
                "CALLREC_RECORDING_ID", call.segment.recording_id if call.segment else ""
            )
            await chan.set("CALLREC_STATUS", "ok")
            self.store.save(call)
        self.registry.register(call, self)
        log.info(
            "call %s agent %s %s: legs=%s autostart=%s reasons=%s",
            call_id, call.agent, call.phase, decision.legs, decision.autostart,
            ",".join(decision.reasons),
        )  # fmt: skip
        return decision

    async def _consultation(
        self, call: CallState, chan: AgiChannel, agent: str, flag: bool
    ) -> Decision:
        """The new agent answered while the current one is still up: a consultation.

        Nothing changes for the call yet: the current segment goes on. The new
        agent's decision is made now (so the dialplan gets its outputs) and
        again when the transfer completes (``on_transfer``); the channel is
        watched so an abandoned consultation is forgotten on its hangup.
        """
        previous = call.consult
        if previous is not None and previous.uniqueid != chan.uniqueid:
            self._by_channel.pop(previous.uniqueid, None)
        call.consult = Consultation(chan.uniqueid, chan.name, agent, flag)
        self._by_channel[chan.uniqueid] = call.call_id
        decision = self._decide_for(call, agent, flag)
        await self._publish(chan.set, call.call_id, decision, "post_transfer")
        await chan.set(f"__{FROM_AGENT_VAR}", chan.uniqueid)
        await chan.set("CALLREC_RECORDING_ID", "")
        await chan.set("CALLREC_STATUS", "ok")
        self.store.save(call)
        log.info("call %s: agent %s answered a consultation by agent %s (%s)",
                 call.call_id, agent, call.agent, chan.uniqueid)  # fmt: skip
        return decision

    def _decide_for(self, call: CallState, agent: str, continue_recording: bool) -> Decision:
        """The post-transfer decision for ``agent`` taking over this call."""
        facts = call.facts(continue_recording=continue_recording)
        facts["agent"] = agent
        facts["phase"] = "post_transfer"
        return decide(self.policy(), CallFacts.from_dict(facts))

    @staticmethod
    async def _publish(
        setter: Callable[[str, str], Awaitable[None]],
        call_id: str,
        decision: Decision,
        phase: str,
    ) -> None:
        """The decision's outputs on the agent's channel (AGI or AMI setter)."""
        # "__": inherited by a consultation call this agent makes (attended
        # transfer), which is how its answer is known to belong to this call.
        await setter("__CALLREC_CALL_ID", call_id)
        await setter("CALLREC_LEGS", decision.legs)
        await setter("CALLREC_AUTOSTART", "1" if decision.autostart else "0")
        await setter("CALLREC_MODE", decision.mode or "")
        await setter("CALLREC_REASONS", ",".join(decision.reasons))
        await setter("CALLREC_PHASE_DECIDED", phase)

    async def dtmf(self, chan: AgiChannel, toggle: str) -> str:
        """The agent pressed *1 (toggle_record) or *2 (toggle_pause); returns the outcome."""
        call_id = await chan.get("${CALLREC_CALL_ID}")
        call = self.calls.get(call_id) if valid_call_id(call_id) else None
        if call is None:
            outcome = "refused:call.not_found"
        elif chan.uniqueid != call.channels.get("agent"):
            # e.g. the agent being consulted: the recording is not theirs yet.
            outcome = "refused:call.not_current_agent"
        else:
            async with self._locks[call.call_id]:
                action = toggle_to_action(call, toggle)
                rule = await self._act(call, AgentToggle(toggle), chan)  # type: ignore[arg-type]
                if rule:
                    outcome = f"refused:{rule}"
                    log.info("call %s: DTMF %s refused (%s)", call.call_id, action, rule)
                else:
                    outcome = action
                    await chan.set(
                        "CALLREC_RECORDING_ID", call.segment.recording_id if call.segment else ""
                    )
            self.registry.changed(call)
        await chan.set("CALLREC_DTMF_RESULT", outcome)
        return outcome

    # ------------------------------------------------------- CallController

    async def perform(self, call: CallState, action: str) -> None:
        """Console/API action, already allowed by ``check_action``: through AMI."""
        async with self._locks[call.call_id]:  # DTMF may have raced us: the machine decides
            rule = await self._act(call, AgentAction(action), None)  # type: ignore[arg-type]
        if rule:
            raise ActionRefused(action, rule)

    async def transfer(self, call: CallState, agent: str, continue_recording: bool) -> None:
        """Blind transfer: redirect the customer to a context that dials ``agent``.

        The new agent's answer runs callrec-agi-answer again, which ends the
        old segment (if the hangup did not already) and decides the new one
        with phase post_transfer.
        """
        if not valid_agent_id(agent):
            raise ValueError(f"agent id {agent!r} is not valid")
        dial = self.agent_dial(agent)
        if not dial:
            raise ValueError(f"no dial string for agent {agent!r}")
        customer = call.channels.get("customer")
        if not customer:
            raise ValueError(
                "this call's customer channel is unknown (callrec-agi-prepare not run)"
            )
        async with self._locks[call.call_id]:
            if call.segment is not None:
                await self._stop(call, None)
            call.continue_recording = continue_recording
            await self.ami.setvar(customer, "CALLREC_TRANSFER_DIAL", dial)
            await self.ami.setvar(customer, "__CALLREC_AGENT", agent)
            await self.ami.setvar(
                customer, "__CALLREC_CONTINUE_RECORDING", "1" if continue_recording else "0"
            )
            await self.ami.action(
                "Redirect", Channel=customer, Context=TRANSFER_CONTEXT, Exten="s", Priority="1"
            )
            log.info("call %s: blind transfer to agent %s", call.call_id, agent)

    # ------------------------------------------------------------ AMI events

    def _note_flag(self, event: dict[str, str]) -> None:
        """The answer hook's hangup handler: an agent's checkbox as it hung up."""
        channel = event.get("Uniqueid", "")
        if event.get("UserEvent") == CONTINUE_EVENT and channel in self._by_channel:
            self._flags[channel] = is_true(event.get("Value", ""))

    def _note_hangup(self, event: dict[str, str]) -> None:
        """Synchronous, in event order: a channel of ours is gone (see ``_wait_gone``)."""
        channel = event.get("Uniqueid", "")
        if channel not in self._by_channel:
            return
        now = time.monotonic()
        self._gone[channel] = now
        self.waiters.resolve("Gone", channel, event)
        for old in [c for c, t in self._gone.items() if now - t > _NOTE_TTL]:
            self._gone.pop(old, None)
            self._flags.pop(old, None)

    async def _wait_gone(self, channel: str, timeout: float = HANGUP_EVENT_WAIT) -> bool:
        """Wait until the AMI Hangup of a destroyed channel arrived (its checkbox came first)."""
        if channel in self._gone:
            return True
        gone = self.waiters.expect("Gone", channel)  # resolved by _note_hangup
        try:
            await self.waiters.wait(gone, timeout)
        except TimeoutError:
            self.waiters.discard("Gone", channel)
            log.warning("no AMI Hangup for channel %s within %.1fs", channel, timeout)
            return False
        return True

    async def _agent_checkbox(self, channel: str) -> tuple[bool, bool]:
        """(channel still up, its CALLREC_CONTINUE_RECORDING) through AMI."""
        try:
            value = await self.ami.getvar(channel, CONTINUE_VAR)
        except AmiError:
            return False, False
        return True, is_true(value)

    async def on_hangup(self, event: dict[str, str]) -> None:
        channel = event.get("Uniqueid", "")
        call_id = self._by_channel.pop(channel, None)
        if call_id is None or call_id not in self.calls:
            return
        call = self.calls[call_id]
        async with self._locks[call_id]:
            consult = call.consult
            if consult is not None and consult.uniqueid == channel:
                # The consulted agent left before any transfer: nothing changes.
                call.consult = None
                log.info("call %s: consultation with agent %s ended without a transfer",
                         call_id, consult.agent)  # fmt: skip
            elif channel == call.channels.get("agent"):
                if call.segment is not None:
                    self._end_segment(call)
                call.channels["agent"] = ""
                if not call.channels.get("customer"):
                    call.ended = True
            elif channel == call.channels.get("customer"):
                if call.segment is not None:
                    self._end_segment(call)
                call.ended = True
            self.store.save(call)
        self.registry.changed(call)
        self._maybe_forget(call)

    async def on_transfer(self, event: dict[str, str]) -> None:
        """A transfer done in Asterisk (features, SIP REFER, AMI).

        Blind: the new agent's answer through callrec-agi-answer decides the
        new segment; here it is only noted. Attended: the consulted agent
        answered earlier (``_consultation``); now that Asterisk joined them to
        the customer, the transferring agent's segment ends and the new
        agent's is decided (phase post_transfer) and started on their channel.
        """
        name = event.get("Event", "")
        transferers = [
            event.get(key, "")
            for key in ("TransfererUniqueid", "OrigTransfererUniqueid", "SecondTransfererUniqueid")
        ]
        transferer = next((t for t in transferers if t in self._by_channel), "")
        call_id = self._by_channel.get(transferer) if transferer else None
        if call_id is None or call_id not in self.calls:
            return
        call = self.calls[call_id]
        call.last_transfer = name
        log.info("call %s: %s by %s (%s)", call_id, name, transferer, event.get("Result"))
        if name != "AttendedTransfer" or event.get("Result") != "Success":
            return
        async with self._locks[call_id]:
            consult, call.consult = call.consult, None
            if consult is None:
                return  # e.g. a consultation callrec never saw answer
            await self._complete_attended(call, transferer, consult)
            self.store.save(call)
        self.registry.changed(call)

    async def _complete_attended(
        self, call: CallState, transferer: str, consult: Consultation
    ) -> None:
        alive, flag = await self._agent_checkbox(transferer)
        if not alive:  # it hung up as the transfer completed: its checkbox came by event
            flag = (
                self._flags.pop(transferer, False)
                if await self._wait_gone(transferer)
                else consult.continue_recording
            )
        old_agent = call.channels.get("agent", "")
        if call.segment is not None:
            if old_agent and old_agent == transferer and not alive:
                self._end_segment(call)  # its hangup closes the files
            else:
                await self._stop(call, None)
        if old_agent:
            self._by_channel.pop(old_agent, None)
        uniqueid, agent = consult.uniqueid, consult.agent
        call.agent = agent
        call.phase = "post_transfer"
        call.channels["agent"] = uniqueid
        call.agent_channel_name = consult.name
        call.agent_uniqueid = uniqueid
        self._by_channel[uniqueid] = call.call_id
        decision = self._decide_for(call, agent, flag)
        call.decision = decision
        if decision.autostart:
            await self._start(call, None)

        async def setvar(variable: str, value: str) -> None:
            await self.ami.setvar(uniqueid, variable, value)

        try:
            await self._publish(setvar, call.call_id, decision, call.phase)
            await setvar(f"__{FROM_AGENT_VAR}", uniqueid)
            await setvar("CALLREC_RECORDING_ID", call.segment.recording_id if call.segment else "")
        except AmiError as exc:  # outputs only; the recording itself is not affected
            log.warning("call %s: decision outputs not set on %s: %s", call.call_id, uniqueid, exc)
        log.info(
            "call %s: attended transfer to agent %s completed: legs=%s autostart=%s reasons=%s",
            call.call_id, agent, decision.legs, decision.autostart, ",".join(decision.reasons),
        )  # fmt: skip

    # ------------------------------------------------------------- segments

    async def _act(
        self, call: CallState, event: AgentAction | AgentToggle, chan: AgiChannel | None
    ) -> str | None:
        """An agent's action through the call machine (the same one the Stasis path
        drives); the machine is rebuilt from the persisted call, so nothing else
        is held for it. Returns the refusing rule, or None when carried out.
        """
        machine = CallMachine(resume(call))
        queue: list[Event] = [event]
        refused = None
        while queue:
            for effect in machine.feed(queue.pop(0)):
                if isinstance(effect, PlayRefusal):
                    refused = effect.rule
                elif isinstance(effect, StartCapture):
                    await self._start(call, chan)
                    queue.append(CaptureStarted(effect.segment_no))
                elif isinstance(effect, StopCapture):
                    await self._stop(call, chan)  # files handed off once MixMonitor closed them
                    queue.append(CaptureStopped(effect.segment_no))
                elif isinstance(effect, MuteCapture):
                    await self._mute(call, effect.muted)
        self.store.save(call)
        return refused

    async def _mute(self, call: CallState, muted: bool) -> None:
        await self.ami.action(
            "MixMonitorMute",
            Channel=call.channels.get("agent", ""),
            Direction="both",
            State="1" if muted else "0",
        )
        if call.segment is not None:
            if muted:
                call.segment.open_pause(time.time())
            else:
                call.segment.close_pause(time.time())

    async def _start(self, call: CallState, chan: AgiChannel | None) -> None:
        legs = call.current_decision().legs
        recording_id = new_recording_id()
        number = call.segments + 1
        if chan is not None:
            await chan.exec("MixMonitor", mixmonitor.app_data(self.monitor, recording_id, legs))
            mix_id = await chan.get(f"${{{mixmonitor.MIXMONITOR_ID_VAR}}}")
        else:
            channel = call.channels.get("agent", "")
            await self.ami.action(
                "MixMonitor",
                Channel=channel,
                Options=mixmonitor.options(self.monitor, recording_id, legs),
            )
            mix_id = await self.ami.getvar(channel, mixmonitor.MIXMONITOR_ID_VAR)
        now = time.time()
        seg = Segment(
            recording_id=recording_id,
            segment_no=number,
            agent=call.agent,
            legs=legs,
            decision=call.current_decision(),
            started_at=now,
        )
        for leg in mixmonitor.legs_captured(legs):
            seg.captures[leg] = Capture(
                leg=leg,
                handle=recording_id,
                host_path=str(self.monitor.host_path(recording_id, leg)),
                started_at=now,
            )
        call.segments = number
        call.mixmonitor_id = mix_id
        call.segment = seg

    async def _stop(self, call: CallState, chan: AgiChannel | None) -> None:
        mix_id = call.mixmonitor_id
        if chan is not None:
            await chan.exec("StopMixMonitor", mix_id)
        else:
            fields = {"Channel": call.channels.get("agent", "")}
            if mix_id:
                fields["MixMonitorID"] = mix_id
            try:
                await self.ami.action("StopMixMonitor", **fields)
            except AmiError as exc:  # the channel may be gone already: files close anyway
                log.warning("call %s: StopMixMonitor: %s", call.call_id, exc)
        self._end_segment(call)

    def _end_segment(self, call: CallState) -> None:
        seg = call.segment
        if seg is None:
            return
        now = time.time()
        seg.ended_at = now
        if seg.paused:
            seg.close_pause(now)
        call.segment = None
        task = asyncio.create_task(self._finish(call, seg))
        self._finishing.setdefault(call.call_id, set()).add(task)
        task.add_done_callback(lambda t: self._finished(call, t))

    async def _finish(self, call: CallState, seg: Segment) -> None:
        paths = [Path(c.host_path) for c in seg.captures.values()]
        if not await mixmonitor.wait_closed(paths, self.close_timeout):
            log.error("recording %s: MixMonitor files not closed in time", seg.recording_id)
        await self.handoff.deliver(call, seg)
        log.info("recording %s handed off (call %s)", seg.recording_id, call.call_id)

    def _finished(self, call: CallState, task: asyncio.Task[None]) -> None:
        self._finishing.get(call.call_id, set()).discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "call %s: finishing a segment failed", call.call_id, exc_info=task.exception()
            )
        self._maybe_forget(call)

    def _maybe_forget(self, call: CallState) -> None:
        if not call.ended or self._finishing.get(call.call_id):
            if not call.ended:
                self.store.save(call)
            return
        self.calls.pop(call.call_id, None)
        self._locks.pop(call.call_id, None)
        self._finishing.pop(call.call_id, None)
        for name in list(call.channels.values()):
            if self._by_channel.get(name) == call.call_id:
                self._by_channel.pop(name, None)
        self.store.delete(call.call_id)
        with contextlib.suppress(CallNotFound):
            self.registry.unregister(call.call_id)

    async def recover(self) -> int:
        """After a restart: take back the calls the last process left in state.

        MixMonitor went on recording in Asterisk meanwhile. A call whose agent
        channel still exists is registered again (console, DTMF and hangup
        work as before); one that ended while we were away has its closed
        files handed to storage now. Returns how many calls were found.
        """
        found = 0
        for call in self.store.load_all(source="agi"):
            if call.call_id in self.calls:
                continue
            found += 1
            self.calls[call.call_id] = call
            self._locks[call.call_id] = asyncio.Lock()
            agent = call.channels.get("agent", "")
            alive = False
            if agent and not call.ended:
                try:
                    await self.ami.getvar(agent, "CALLREC_CALL_ID")
                    alive = True
                except AmiError:
                    alive = False
            if alive:
                for uniqueid in call.channels.values():
                    if uniqueid:
                        self._by_channel[uniqueid] = call.call_id
                self.registry.register(call, self)
                log.info("call %s recovered after restart (recording=%s)",
                         call.call_id, call.recording)  # fmt: skip
                continue
            log.warning("call %s ended while callrec was down; finishing it", call.call_id)
            if call.segment is not None:
                self._end_segment(call)
            call.ended = True
            self._maybe_forget(call)
        return found

    async def reconcile(self) -> int:
        """After the AMI link came back: check every call against Asterisk.

        Hangup events sent while the link was down are lost, so a call whose
        party left meanwhile would stay "live" until a restart. Each channel
        callrec knows is looked up; one that is gone is handled as if its
        Hangup had arrived (the segment is delivered, the call forgotten),
        as the Stasis path does when its websocket comes back. Returns how
        many calls ended.
        """
        ended = 0
        for call in list(self.calls.values()):
            if call.ended:
                continue
            consult = call.consult.uniqueid if call.consult else ""
            for uniqueid in (
                consult,
                call.channels.get("agent", ""),
                call.channels.get("customer", ""),
            ):
                if uniqueid and not await self._exists(uniqueid):
                    log.warning(
                        "call %s: channel %s left while AMI was away", call.call_id, uniqueid
                    )
                    await self.on_hangup({"Event": "Hangup", "Uniqueid": uniqueid})
            ended += call.ended
        return ended

    async def _exists(self, uniqueid: str) -> bool:
        try:
            await self.ami.getvar(uniqueid, "CALLREC_CALL_ID")
        except AmiError as exc:
            return "no such channel" not in str(exc).lower()  # else: unsure, keep it
        return True

    async def drain(self, timeout: float = 15.0) -> None:
        """Wait for segments being finished (service stop)."""
        tasks = [t for ts in self._finishing.values() for t in ts]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
