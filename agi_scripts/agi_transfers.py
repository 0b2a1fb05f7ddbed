"""Dialplan path: transfers from the API (blind, by Redirect) and inside Asterisk.

A new agent answering with the call's inherited CALLREC_CALL_ID is either a
consultation (it also inherited the current agent's CALLREC_FROM_AGENT: the
current segment goes on until Asterisk reports AttendedTransfer) or a blind
transfer (the new agent's segment is decided at once, in ``answer``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from agi_scripts.agi import AgiChannel
from agi_scripts.agi_hangups import AgiHangups
from agi_scripts.agi_segments import FROM_AGENT_VAR, TRANSFER_CONTEXT
from agi_scripts.ami import AmiError
from agi_scripts.facts import (
    valid_agent_id,
)
from callcore.state import CallState, Consultation
from policy import CallFacts, Decision, decide

log = logging.getLogger("callrec.agi")


class AgiTransfers(AgiHangups):
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
