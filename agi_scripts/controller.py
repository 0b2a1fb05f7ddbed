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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from agi_scripts import mixmonitor
from agi_scripts.agi import AgiChannel
from agi_scripts.ami import Ami, AmiError
from agi_scripts.facts import (
    TRUE_WORDS,
    facts_expression,
    parse_facts,
    valid_agent_id,
    valid_call_id,
)
from callcore.actions import ActionRefused, check_action, toggle_to_action
from callcore.finish import Handoff
from callcore.registry import CallNotFound, CallRegistry
from callcore.state import CallState, Capture, Segment
from callcore.state_store import StateStore
from policy import CallFacts, Config, Decision, decide
from storage.segment import new_recording_id

log = logging.getLogger("callrec.agi")

TRANSFER_CONTEXT = "callrec-agi-transfer"


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
        ami.on("Hangup", self.on_hangup)
        ami.on("BlindTransfer", self.on_transfer)
        ami.on("AttendedTransfer", self.on_transfer)

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
            previous = str(call.extra.get("agent_uniqueid", ""))
            if previous and previous != chan.uniqueid:
                # A new agent on a known call: the transfer SPEC 2.4/2.5 speak of.
                if call.segment is not None:
                    self._end_segment(call)
                self._by_channel.pop(previous, None)
                call.phase = "post_transfer"
                call.agent = facts.agent
                continue_recording = bool(
                    call.extra.pop("continue_recording", False) or facts.continue_recording
                )
            # Channels by uniqueid: AMI events carry it and AMI actions accept it,
            # and unlike a channel name it holds nothing an endpoint's name can add.
            call.channels["agent"] = chan.uniqueid
            call.extra["agent_channel_name"] = chan.name
            call.extra["agent_uniqueid"] = chan.uniqueid
            self._by_channel[chan.uniqueid] = call_id
            if facts.customer_uniqueid and not call.channels.get("customer"):
                call.channels["customer"] = facts.customer_uniqueid
                self._by_channel[facts.customer_uniqueid] = call_id
            facts_in = CallFacts.from_dict(call.facts(continue_recording=continue_recording))
            decision = decide(self.policy(), facts_in)
            call.decision = decision.to_dict()
            await chan.set("CALLREC_CALL_ID", call_id)
            await chan.set("CALLREC_LEGS", decision.legs)
            await chan.set("CALLREC_AUTOSTART", "1" if decision.autostart else "0")
            await chan.set("CALLREC_MODE", decision.mode or "")
            await chan.set("CALLREC_REASONS", ",".join(decision.reasons))
            await chan.set("CALLREC_PHASE_DECIDED", call.phase)
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

    async def dtmf(self, chan: AgiChannel, toggle: str) -> str:
        """The agent pressed *1 (toggle_record) or *2 (toggle_pause); returns the outcome."""
        call_id = await chan.get("${CALLREC_CALL_ID}")
        call = self.calls.get(call_id) if valid_call_id(call_id) else None
        if call is None:
            outcome = "refused:call.not_found"
        else:
            async with self._locks[call.call_id]:
                action = toggle_to_action(call, toggle)
                try:
                    check_action(call, action)
                except ActionRefused as refused:
                    outcome = f"refused:{refused.rule}"
                    log.info("call %s: DTMF %s refused (%s)", call.call_id, action, refused.rule)
                else:
                    await self._do(call, action, chan)
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
        async with self._locks[call.call_id]:
            check_action(call, action)  # again under the lock: DTMF may have raced us
            await self._do(call, action, None)

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
            call.extra["continue_recording"] = continue_recording
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

    async def on_hangup(self, event: dict[str, str]) -> None:
        channel = event.get("Uniqueid", "")
        call_id = self._by_channel.pop(channel, None)
        if call_id is None or call_id not in self.calls:
            return
        call = self.calls[call_id]
        async with self._locks[call_id]:
            if channel == call.channels.get("agent"):
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
        """A transfer done in Asterisk (features, SIP REFER): note it and its checkbox.

        The new agent's segment is decided when that agent answers through
        callrec-agi-answer; here we only keep the transferring agent's
        CALLREC_CONTINUE_RECORDING for it.
        """
        transferer = event.get("TransfererUniqueid", "")
        call_id = self._by_channel.get(transferer)
        if call_id is None or call_id not in self.calls:
            return
        call = self.calls[call_id]
        try:
            flag = await self.ami.getvar(transferer, "CALLREC_CONTINUE_RECORDING")
        except AmiError:
            flag = ""
        call.extra["continue_recording"] = flag.lower() in TRUE_WORDS
        call.extra["transfer"] = event.get("Event", "")
        log.info("call %s: %s by %s", call_id, event.get("Event"), transferer)

    # ------------------------------------------------------------- segments

    async def _do(self, call: CallState, action: str, chan: AgiChannel | None) -> None:
        agent_channel = call.channels.get("agent", "")
        if action == "start":
            await self._start(call, chan)
        elif action == "stop":
            await self._stop(call, chan)
        elif action in ("pause", "resume"):
            pause = action == "pause"
            await self.ami.action(
                "MixMonitorMute",
                Channel=agent_channel,
                Direction="both",
                State="1" if pause else "0",
            )
            if call.segment is not None:
                if pause:
                    call.segment.open_pause(time.time())
                else:
                    call.segment.close_pause(time.time())
        else:
            raise ValueError(f"unknown action {action!r}")
        self.store.save(call)

    async def _start(self, call: CallState, chan: AgiChannel | None) -> None:
        legs = call.current_decision().legs
        recording_id = new_recording_id()
        number = int(call.extra.get("segments_started", 0)) + 1
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
            decision=dict(call.decision),
            started_at=now,
        )
        for leg in mixmonitor.legs_captured(legs):
            seg.captures[leg] = Capture(
                leg=leg,
                handle=recording_id,
                host_path=str(self.monitor.host_path(recording_id, leg)),
                started_at=now,
            )
        call.extra["segments_started"] = number
        call.extra["mixmonitor_id"] = mix_id
        call.segment = seg

    async def _stop(self, call: CallState, chan: AgiChannel | None) -> None:
        mix_id = str(call.extra.get("mixmonitor_id", ""))
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
        call.segments_done += 1
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

    async def drain(self, timeout: float = 15.0) -> None:
        """Wait for segments being finished (service stop)."""
        tasks = [t for ts in self._finishing.values() for t in ts]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
