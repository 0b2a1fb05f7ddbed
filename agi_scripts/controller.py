"""The dialplan-routed calls: decision at answer, segments, actions, transfers, hand-off.

One ``AgiController`` serves every call the FastAGI path sees and is the
``CallController`` the registry uses for them, so the HTTP API and the
console drive these calls exactly like Stasis calls. Actions arriving by DTMF
run inside the AGI session on the agent's channel; actions from the console
go through AMI. Either way the call machine (``callcore.machine``) decides
what happens, as on the Stasis path.

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
import logging
import uuid
from collections.abc import Callable

from agi_scripts import mixmonitor
from agi_scripts.agi import AgiChannel
from agi_scripts.agi_transfers import AgiTransfers
from agi_scripts.ami import Ami
from agi_scripts.facts import facts_expression, parse_facts, valid_call_id
from agi_scripts.translate import FROM_AGENT_EXPRESSION, FROM_AGENT_VAR
from callcore.actions import ActionRefused, toggle_to_action
from callcore.events import AgentAction, AgentToggle
from callcore.finish import Handoff
from callcore.registry import CallRegistry
from callcore.state import CallState
from callcore.state_store import StateStore
from policy import CallFacts, Config, Decision, decide

log = logging.getLogger("callrec.agi")


class AgiController(AgiTransfers):
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
        super().__init__(
            policy=policy,
            registry=registry,
            handoff=handoff,
            store=store,
            monitor=monitor,
            ami=ami,
            agent_dial=agent_dial,
            close_timeout=close_timeout,
        )
        ami.on("UserEvent", self._note_flag)
        ami.on("Hangup", self._note_hangup)
        ami.on("Hangup", self.on_hangup)
        ami.on("BlindTransfer", self.on_transfer)
        ami.on("AttendedTransfer", self.on_transfer)
        ami.on_reconnect(self.reconcile)

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
                via = await chan.get(FROM_AGENT_EXPRESSION)
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

    async def perform(self, call: CallState, action: str) -> None:
        """Console/API action, already allowed by ``check_action``: through AMI."""
        async with self._locks[call.call_id]:  # DTMF may have raced us: the machine decides
            rule = await self._act(call, AgentAction(action), None)  # type: ignore[arg-type]
        if rule:
            raise ActionRefused(action, rule)
