"""Transfers on Stasis calls: from the API, and blind or attended inside Asterisk.

See ``docs/STASIS.md`` for how each kind reaches the app and who the new
agent is. Either way the machine gets ``TransferCompleted``: A's segment
ends and is delivered, B's is decided with phase ``post_transfer``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from ari_app.client import AriError, AriUnavailable
from ari_app.effects import CallEffects
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
            self._by_channel[new_channel] = call.call_id
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
            self._by_channel.pop(channel_id, None)
            await self._drive(call, TransferAbandoned())
            self._save(call)

    async def _native_transfer(self, event: dict[str, Any]) -> None:
        """A transfer done inside Asterisk (SIP REFER, a features transfer).

        Asterisk puts a new channel to the transfer target into our bridge in
        place of the agent (StasisStart with ``replace_channel``). That is the
        transfer of SPEC 2.5: A's segment ends, and the new party, whose
        dialplan extension names the agent, gets a post_transfer decision.
        The transferring agent's CALLREC_CONTINUE_RECORDING is its checkbox.
        It is kept from its ChannelVarset event when set, because the
        transferring phone hangs up its leg as soon as Asterisk reports
        success, often before a read could reach it; a read of the old and
        then (inherited ``__`` value) the new channel is the fallback.
        """
        channel = event["channel"]
        old = event["replace_channel"]["id"]
        call = self.calls.get(self._by_channel.get(old, ""))
        if call is None or call.channels.get("agent") != old:
            return
        early = asyncio.ensure_future(self._read_var(old, CONTINUE_VAR))
        try:
            agent = await self._transfer_target_agent(channel, old)
            flag, call.continue_flag = call.continue_flag, None
            read = await early
            if flag is None:
                flag = read
            if flag is None:  # an inherited "__" value on the new channel
                flag = await self._read_var(channel["id"], CONTINUE_VAR)
            continue_recording = is_true(flag)
            log.info(
                "call %s: transferred in Asterisk from %s to %s", call.call_id, call.agent, agent
            )
            async with self._lock(call.call_id):
                call.transfer = PendingTransfer(agent, continue_recording)
                await self._complete_transfer(call, channel["id"], in_bridge=True)
        finally:
            # Once the old agent left our channel map no transfer event of it
            # is stored again; drop the one kept (used or not) and its waiter.
            self._transfer_events.pop(old, None)
            self.waiters.discard("Transfer", old)

    async def _read_var(self, channel_id: str, name: str) -> str | None:
        """A channel variable, or None if unset or the channel is gone (any ARI error)."""
        if not channel_id:
            return None
        try:
            return await self.client.get_variable(channel_id, name)
        except AriError as exc:
            log.info("variable %s of %s not read: %s", name, channel_id, exc)
            return None

    async def _transfer_target_agent(self, channel: dict[str, Any], old: str) -> str:
        """Who took the call in a transfer done inside Asterisk.

        In order: CALLREC_AGENT on the channel now in our bridge (a site's
        dialplan sets it where it dials an agent); for an attended transfer,
        CALLREC_AGENT or the extension of the consultation's target (our
        bridge holds only Asterisk's ``Local/_attended@transfer`` link to
        it); for a blind one, the extension dialled, which names the agent.
        """
        named = await self._read_var(channel["id"], "CALLREC_AGENT")
        if named and safe_id(named):
            return named
        event = self._transfer_events.get(old)
        if event is None:
            with contextlib.suppress(TimeoutError):
                event = await self.waiters.wait(self.waiters.expect("Transfer", old), 2.0)
        exten = str((channel.get("dialplan") or {}).get("exten", ""))
        if event is not None and event.get("type") == "BridgeAttendedTransfer":
            target = event.get("transfer_target") or {}
            named = await self._read_var(target.get("id", ""), "CALLREC_AGENT")
            if named and safe_id(named):
                return named
            exten = str((target.get("dialplan") or {}).get("exten", ""))
        elif event is not None and event.get("exten"):
            exten = str(event["exten"])
        return exten if safe_id(exten) and not exten.startswith("_") else "unknown"

    async def _complete_transfer(
        self, call: CallState, channel_id: str, *, in_bridge: bool = False
    ) -> None:
        info, call.transfer = call.transfer, None
        old = call.channels.get("agent")
        call.channels["agent"] = channel_id
        call.agent = info.agent if info else call.agent
        call.phase = "post_transfer"
        call.decision = None  # A's decision no longer applies; B's follows
        self._by_channel[channel_id] = call.call_id
        if old:
            self._by_channel.pop(old, None)
            if old not in call.previous_agents:
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
