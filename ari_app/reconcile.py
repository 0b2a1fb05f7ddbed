"""After any (re)connect: rebuild calls from persisted state and what ARI reports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from ari_app.client import AriError, AriNotFound, AriUnavailable
from ari_app.core import EVENT_TYPES
from ari_app.effects import CallEffects
from ari_app.recapture import MAX_ATTEMPTS, RETRY_DELAYS, drop_pending, pending_since
from callcore.events import AgentAction, Decided, Reconnected
from callcore.state import CallState

log = logging.getLogger("callrec.ari")


class Reconciler(CallEffects):
    setup_grace = 60.0  # s a call may take to get both parties into Stasis

    # ------------------------------------------------------------ reconcile

    async def _on_connected(self) -> None:
        """After any (re)connect: Asterisk replays nothing, so rebuild from state."""
        with contextlib.suppress(AriError):
            await self.client.set_event_filter(EVENT_TYPES)
        await self.handoff.retry_pending()
        listed = await self.client.list_channels()
        channels = {c["id"] for c in listed}
        in_stasis = {c["id"] for c in listed if _in_stasis(c)}
        for call in self.store.load_all(source="ari"):
            known = self.calls.get(call.call_id)
            if known is not None:
                call = known
            else:
                self._track(call)
            parties = [call.channels.get("customer"), call.channels.get("agent")]
            alive = all(p in channels for p in parties if p)
            setting_up = not call.bridged_at and time.time() - call.created_at < self.setup_grace
            if not alive and setting_up and not call.ended:
                # Still being dialled (its channels do not exist yet), or its
                # parties failed to enter Stasis while the app was away.
                if call.call_id not in self._rechecking:
                    self._rechecking.add(call.call_id)
                    self._spawn(self._recheck_setup(call.call_id), "setup recheck")
                continue
            if alive and not call.bridged_at and not call.ended:
                self._resume_setup(call, in_stasis)
            if call.ended or not alive:
                log.warning("call %s ended while the app was away; finishing it", call.call_id)
                await self._end_call(call, _last_write(call))
                continue
            if call.segment is not None:
                await self._check_captures(call)
            if pending_since(call) is not None and call.call_id not in self._recapturing:
                self._spawn(self._recapture(call.call_id), "recapture")
            log.info("call %s recovered (recording=%s)", call.call_id, call.recording)
        await self._reap_orphans(channels)
        self.connected.set()

    async def _check_captures(self, call: CallState) -> None:
        """A capture that ended while away ends its segment (what it holds is delivered).

        Under the call's lock: a capture still being started is judged once
        its start succeeded or failed, never half-way (a good capture must not
        be stopped for looking absent while it starts).
        """
        async with self._lock(call.call_id):
            seg = call.segment
            if seg is None or call.ended:
                return
            started = [c for c in seg.captures.values() if c.started_at]
            live = [await self.capturer.still_live(c) for c in started]
            if started and all(live):
                return
            log.warning("call %s: a capture ended while away", call.call_id)
            await self._drive(call, Reconnected(parties_alive=True, capturing=False))

    async def _recheck_setup(self, call_id: str) -> None:
        """A call still dialling at a reconcile: end it if its parties never came."""
        try:
            await self._recheck(call_id)
        finally:
            self._rechecking.discard(call_id)

    async def _recheck(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None:
            return
        await asyncio.sleep(max(0.0, call.created_at + self.setup_grace - time.time()))
        await self.connected.wait()
        if call.ended or call.bridged_at or self.calls.get(call_id) is not call:
            return
        try:
            channels = {c["id"] for c in await self.client.list_channels()}
        except (AriError, AriUnavailable):
            return  # the next reconcile looks again
        parties = [call.channels.get("customer"), call.channels.get("agent")]
        if not all(p in channels for p in parties if p):
            log.warning("call %s: its parties never arrived; ending it", call_id)
            await self._end_call(call)

    def _resume_setup(self, call: CallState, in_stasis: set[str]) -> None:
        """Parties that reached Stasis while the events were lost: bridge them now."""
        for role in ("customer", "agent"):
            channel_id = call.channels.get(role, "")
            if channel_id in in_stasis and role not in call.in_bridge:
                log.warning("call %s: %s arrived while the link was down", call.call_id, role)
                self._spawn(self._party_arrived(call.call_id, role, channel_id), "call party")

    async def _party_arrived(self, call_id: str, role: str, channel_id: str) -> None:
        raise NotImplementedError  # ari_app.app

    async def _recapture(self, call_id: str) -> None:
        """Start again a capture the decision asked for that never ran.

        Waits for the link and its reconcile first. Tries a few times; a call
        still owing its capture after that stays flagged (the verification's
        gap report names it), and ending the call ends the attempts.
        """
        if call_id in self._recapturing:
            return
        self._recapturing.add(call_id)
        try:
            for delay in RETRY_DELAYS[:MAX_ATTEMPTS]:
                await asyncio.sleep(delay)
                await self.connected.wait()
                call = self.calls.get(call_id)
                machine = self.machines.get(call_id)
                if call is None or machine is None or call.ended or call.decision is None:
                    return
                async with self._lock(call_id):
                    if pending_since(call) is None or call.segment is not None:
                        return  # settled meanwhile (started, or the agent stopped)
                    if machine.state.name != "bridged":
                        continue  # a transfer or a stop under way: look again later
                    decision = call.decision
                    event = Decided(decision) if decision.autostart else AgentAction("start")
                    log.info("call %s: starting the owed capture again", call_id)
                    refused = await self._drive(call, event)
                    if refused:  # the agent's rights changed: nothing is owed any more
                        drop_pending(call)
                        self._save(call)
                    if call.segment is not None or refused:
                        return
        finally:
            self._recapturing.discard(call_id)

    async def _reap_orphans(self, channels: set[str]) -> None:
        """Snoops and bridges no known call owns would leak: remove them."""
        owned_channels: set[str] = set()
        owned_bridges: set[str] = set()
        for call in self.calls.values():
            owned_channels.update(call.channels.values())
            if call.segment:
                owned_channels.update(c.snoop_id for c in call.segment.captures.values())
            owned_bridges.add(call.bridge_id)
        for channel in await self.client.list_channels():
            if channel.get("name", "").startswith("Snoop/") and channel["id"] not in owned_channels:
                with contextlib.suppress(AriNotFound):
                    await self.client.hangup(channel["id"])
        for bridge in await self.client.list_bridges():
            if bridge.get("name", "").startswith("callrec-") and bridge["id"] not in owned_bridges:
                with contextlib.suppress(AriNotFound):
                    await self.client.destroy_bridge(bridge["id"])


def _in_stasis(channel: dict[str, Any]) -> bool:
    """Is the channel in a Stasis application (answered and handed to an app)?"""
    return str((channel.get("dialplan") or {}).get("app_name", "")).lower() == "stasis"


def _last_write(call: CallState) -> float | None:
    """When a call that ended unseen stopped recording: its files' last write."""
    if call.segment is None:
        return None
    times = [
        Path(cap.host_path).stat().st_mtime
        for cap in call.segment.captures.values()
        if Path(cap.host_path).exists()
    ]
    return max(times) if times else None
