"""The dialplan-routed calls: decision at answer, segments, actions, transfers, hand-off.

One ``AgiController`` serves every call the FastAGI path sees and is the
``CallController`` the registry uses for them, so the HTTP API and the
console drive these calls exactly like Stasis calls. Actions arriving by DTMF
run inside the AGI session on the agent's channel; actions from the console
go through AMI. Everything (the answer, DTMF, console actions, AMI events)
is translated by ``agi_scripts.translate`` and fed to the call machine
(``callcore.machine``), which decides what happens, as on the Stasis path;
the parts of this class carry out its effects.

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

from agi_scripts.agi import AgiChannel
from agi_scripts.agi_transfers import AgiTransfers
from agi_scripts.facts import facts_expression, parse_facts, valid_call_id
from agi_scripts.translate import CHECKBOX_FIELD, FROM_AGENT_EXPRESSION
from callcore import log_context, mixmonitor
from callcore.actions import ActionRefused, toggle_to_action
from callcore.ami import Ami
from callcore.finish import Handoff
from callcore.registry import CallRegistry
from callcore.state import CallState
from callcore.state_store import StateStore
from policy import Config, Decision

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
        self._listen()

    async def answer(self, chan: AgiChannel) -> Decision:
        """Decide the agent's segment and start MixMonitor if the decision says so.

        Runs on the agent's channel right after answer. Sets the outputs
        first and CALLREC_STATUS=ok last: the dialplan treats anything else
        as a failure and runs the admin's fallback.
        """
        raw = await chan.get(facts_expression())
        facts = parse_facts(raw)  # FactsError: the server logs it, the dialplan falls back
        call_id = facts.call_id or uuid.uuid4().hex
        log_context.bind(call_id=call_id)  # this FastAGI session's task is about this call
        via = await chan.get(FROM_AGENT_EXPRESSION)
        self._names[chan.uniqueid] = chan.name
        call = self.calls.get(call_id)
        flag = False
        if call is None:
            call = CallState(
                call_id=call_id, source="agi", phase=facts.phase, **facts.as_call_fields()
            )
            self.calls[call_id] = call
            self._locks[call_id] = asyncio.Lock()
        elif call.call_id in self.translator.calls:
            _, previous, _, consult = self.translator.roles(call_id)
            if previous != chan.uniqueid and (consult is None or consult[0] != chan.uniqueid):
                # A new agent on a known call: the transfer SPEC 2.4/2.5 speak of.
                alive = False
                if via == previous and previous not in self.translator.gone:
                    alive, flag = await self._agent_checkbox(previous)
                if not alive:
                    # Blind: Asterisk hangs the old agent up on a thread of its own,
                    # racing this answer; its Hangup event brings its checkbox first.
                    await self._wait_gone(previous)
        record = {"type": "CallrecAgi", "script": "answer", "uniqueid": chan.uniqueid,
                  "facts": raw, "from_agent": via, "call_id": call_id,
                  CHECKBOX_FIELD: str(int(flag))}  # fmt: skip
        async with self._locks[call_id]:
            await self._drive(call, [e for _, e in self.translator.feed(record)], chan)
            if call.consult is not None and call.consult.uniqueid == chan.uniqueid:
                decision = await self._consultation(call, chan, flag)
            else:
                decision = call.current_decision()
                await chan.set(
                    "CALLREC_RECORDING_ID", call.segment.recording_id if call.segment else ""
                )
                await chan.set("CALLREC_STATUS", "ok")
                self.store.save(call)
        self.registry.register(call, self)
        return decision

    async def dtmf(self, chan: AgiChannel, toggle: str) -> str:
        """The agent pressed *1 (toggle_record) or *2 (toggle_pause); returns the outcome."""
        call_id = await chan.get("${CALLREC_CALL_ID}")
        call = self.calls.get(call_id) if valid_call_id(call_id) else None
        if call is None:
            outcome = "refused:call.not_found"
        else:
            async with self._locks[call.call_id]:
                record = {"type": "CallrecAgi", "script": toggle, "uniqueid": chan.uniqueid,
                          "call_id": call.call_id}  # fmt: skip
                events = [e for _, e in self.translator.feed(record)]
                action = toggle_to_action(call, toggle)
                rule = await self._drive(call, events, chan) if events else None
                if not events:
                    # e.g. the agent being consulted: the recording is not theirs yet.
                    outcome = "refused:call.not_current_agent"
                elif rule:
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
            record = {"type": "CallrecAction", "call_id": call.call_id, "action": action}
            rule = await self._drive(call, [e for _, e in self.translator.feed(record)], None)
        if rule:
            raise ActionRefused(action, rule)
