"""Dialplan path: transfers from the API (blind, by Redirect) and consultations.

A new agent answering with the call's inherited CALLREC_CALL_ID is either a
consultation (it also inherited the current agent's CALLREC_FROM_AGENT: the
current segment goes on until Asterisk reports AttendedTransfer) or a blind
transfer (the new agent's segment is decided at once, in ``answer``). Which
one it is, and when a transfer completes or is abandoned, the translator
says (``agi_scripts.translate``); the call machine does the rest.
"""

from __future__ import annotations

import logging

from agi_scripts.agi import AgiChannel
from agi_scripts.agi_hangups import AgiHangups
from agi_scripts.agi_segments import TRANSFER_CONTEXT
from agi_scripts.facts import valid_agent_id
from callcore.events import DecideConsulted
from callcore.state import CallState
from policy import Decision

log = logging.getLogger("callrec.agi")


class AgiTransfers(AgiHangups):
    async def transfer(self, call: CallState, agent: str, continue_recording: bool) -> None:
        """Blind transfer: redirect the customer to a context that dials ``agent``.

        The machine ends the current segment first; the new agent's answer
        runs callrec-agi-answer again, which decides the new one with phase
        post_transfer.
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
            record = {"type": "CallrecTransfer", "call_id": call.call_id, "agent": agent,
                      "continue_recording": continue_recording}  # fmt: skip
            await self._drive(call, [e for _, e in self.translator.feed(record)], None)
            await self.ami.setvar(customer, "CALLREC_TRANSFER_DIAL", dial)
            await self.ami.setvar(customer, "__CALLREC_AGENT", agent)
            await self.ami.setvar(
                customer, "__CALLREC_CONTINUE_RECORDING", "1" if continue_recording else "0"
            )
            await self.ami.action(
                "Redirect", Channel=customer, Context=TRANSFER_CONTEXT, Exten="s", Priority="1"
            )
            log.info("call %s: blind transfer to agent %s", call.call_id, agent)

    async def _consultation(self, call: CallState, chan: AgiChannel, flag: bool) -> Decision:
        """The new agent answered while the current one is still up: a consultation.

        Nothing changes for the call yet: the current segment goes on. The
        machine had the new agent's provisional decision made and published
        (``DecideConsulted``, so the dialplan gets its outputs); it decides
        again when the transfer completes.
        """
        assert call.consult is not None
        agent = call.consult.agent
        if call.consult.decision is None:
            # The machine was busy (a segment stopping) and left the transfer to
            # its next state; the dialplan still needs this channel's outputs.
            await self._decide_consulted(call, DecideConsulted(agent, flag), chan)
        decision = call.consult.decision
        assert decision is not None
        await chan.set("CALLREC_RECORDING_ID", "")
        await chan.set("CALLREC_STATUS", "ok")
        self.store.save(call)
        log.info("call %s: agent %s answered a consultation by agent %s (%s)",
                 call.call_id, agent, call.agent, chan.uniqueid)  # fmt: skip
        return decision
