"""Transfers on Stasis calls: from the API, and blind or attended inside Asterisk.

See ``docs/STASIS.md`` for how each kind reaches the app and who the new
agent is. Either way the machine gets ``TransferCompleted``: A's segment
ends and is delivered, B's is decided with phase ``post_transfer``.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid

from ari_app.client import AriError, AriUnavailable
from ari_app.effects import CallEffects
from ari_app.translate import NativeTransfer
from callcore.events import (
    TransferAbandoned,
    TransferCompleted,
    TransferStarted,
)
from callcore.ids import CONTINUE_VAR, is_true, safe_id
from callcore.state import CallState, PendingTransfer

log = logging.getLogger("callrec.ari")


class TransferFlows(CallEffects):
    async def transfer(self, call: CallState, agent: str, continue_recording: bool) -> None:
        """Agent A hands the customer to agent B: A's segment ends, B's is decided."""
        self._validate_agent(agent)
        async with self._lock(call.call_id):
            await self._drive(call, TransferStarted(agent, continue_recording))
            # Unique per transfer: a call may be transferred again and again.
            new_channel = f"{call.call_id}-a{len(call.previous_agents) + 2}-{uuid.uuid4().hex[:6]}"
            call.transfer = PendingTransfer(agent, continue_recording, new_channel)
            self._tell_transfer(call)
            self._save(call)
        try:
            await self.client.originate(
                self.agent_endpoint(agent),
                app_args=f"call,{call.call_id},transfer",
                channel_id=new_channel,
                caller_id=call.customer_number,
            )
        except (AriError, AriUnavailable):
            await self.transfer_failed(call, new_channel)
            raise

    async def transfer_failed(self, call: CallState, channel_id: str) -> None:
        """The new agent could not be reached: the first agent keeps the call."""
        async with self._lock(call.call_id):
            if call.transfer is None or call.transfer.channel != channel_id:
                return
            log.warning("call %s: transfer to %s failed", call.call_id, call.transfer.agent)
            call.transfer = None
            self.translator.drop_transfer(call.call_id, channel_id)
            await self._drive(call, TransferAbandoned())
            self._save(call)

    async def _native_transfer(
        self, call_id: str, done: TransferCompleted, native: NativeTransfer
    ) -> None:
        """Carry out a transfer done inside Asterisk (SIP REFER), as the translator saw it.

        Asterisk put ``native.channel`` into our bridge in place of the agent
        (StasisStart with ``replace_channel``) and reported the transfer
        (Bridge*Transfer): the translator (``ari_app.translate``) turned
        that into ``done``, naming the agent by extension and carrying the
        transferring agent's CALLREC_CONTINUE_RECORDING if its ChannelVarset
        was seen. Only what events cannot say is read here: CALLREC_AGENT,
        and the checkbox when no event carried it (the persisted value, then
        a read of the old and then, an inherited ``__`` value, the new
        channel; the old one is usually gone by now).
        """
        call = self.calls.get(call_id)
        if call is None or call.ended or call.channels.get("agent") != native.old:
            return
        agent = await self._transfer_target_agent(native, done.agent)
        flag, call.continue_flag = call.continue_flag, None
        if native.flag_seen:
            continue_recording = done.continue_recording
        else:
            if flag is None:
                flag = await self._read_var(native.old, CONTINUE_VAR)
            if flag is None:
                flag = await self._read_var(native.channel, CONTINUE_VAR)
            continue_recording = is_true(flag)
        log.info("call %s: transferred in Asterisk from %s to %s", call_id, call.agent, agent)
        async with self._lock(call_id):
            if call.ended or call.channels.get("agent") != native.old:
                return
            call.transfer = PendingTransfer(agent, continue_recording)
            await self._complete_transfer(call, native.channel, in_bridge=True)

    async def _read_var(self, channel_id: str, name: str) -> str | None:
        """A channel variable, or None if unset or the channel is gone (any ARI error)."""
        if not channel_id:
            return None
        try:
            return await self.client.get_variable(channel_id, name)
        except AriError as exc:
            log.info("variable %s of %s not read: %s", name, channel_id, exc)
            return None

    async def _transfer_target_agent(self, native: NativeTransfer, by_exten: str) -> str:
        """Who took the call in a transfer done inside Asterisk.

        In order: CALLREC_AGENT on the channel now in our bridge (a site's
        dialplan sets it where it dials an agent); for an attended transfer,
        CALLREC_AGENT on the consultation's target (our bridge holds only
        Asterisk's ``Local/_attended@transfer`` link to it); else what the
        translator made of the events (the extension dialled or consulted).
        """
        for channel in (native.channel, native.target):
            named = await self._read_var(channel, "CALLREC_AGENT")
            if named and safe_id(named):
                return named
        return by_exten

    async def _complete_transfer(
        self, call: CallState, channel_id: str, *, in_bridge: bool = False
    ) -> None:
        info, call.transfer = call.transfer, None
        old = call.channels.get("agent")
        call.channels["agent"] = channel_id
        call.agent = info.agent if info else call.agent
        call.phase = "post_transfer"
        call.decision = None  # A's decision no longer applies; B's follows
        # (the translator swapped its channels when the transfer's events came)
        if old and old not in call.previous_agents:
            call.previous_agents.append(old)
        self._save(call)
        if not in_bridge:
            await self.client.add_channel(call.bridge_id, channel_id)
        if old:
            with contextlib.suppress(AriError):
                await self.client.remove_channel(call.bridge_id, old)
        call.bridged_at = time.time()
        # A's segment (if still running) ends and is delivered; B's is decided.
        done = TransferCompleted(call.agent, bool(info and info.continue_recording))
        await self._drive(call, done)
        if old:
            with contextlib.suppress(AriError, AriUnavailable):
                await self.client.hangup(old)
