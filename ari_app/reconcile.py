"""After any (re)connect: rebuild calls from persisted state and what ARI reports."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from ari_app.client import AriError, AriNotFound
from ari_app.core import EVENT_TYPES
from ari_app.effects import CallEffects
from callcore.events import (
    Reconnected,
)
from callcore.state import CallState

log = logging.getLogger("callrec.ari")


class Reconciler(CallEffects):
    # ------------------------------------------------------------ reconcile

    async def _on_connected(self) -> None:
        """After any (re)connect: Asterisk replays nothing, so rebuild from state."""
        with contextlib.suppress(AriError):
            await self.client.set_event_filter(EVENT_TYPES)
        await self.handoff.retry_pending()
        channels = {c["id"] for c in await self.client.list_channels()}
        for call in self.store.load_all(source="ari"):
            known = self.calls.get(call.call_id)
            if known is not None:
                call = known
            else:
                self._track(call)
            parties = [call.channels.get("customer"), call.channels.get("agent")]
            alive = all(p in channels for p in parties if p)
            setting_up = not call.bridged_at and time.time() - call.created_at < 60
            if not alive and setting_up and not call.ended:
                continue  # still being dialled: its channels do not exist yet
            if call.ended or not alive:
                log.warning("call %s ended while the app was away; finishing it", call.call_id)
                await self._end_call(call, _last_write(call))
                continue
            if call.segment is not None:
                live = [await self.capturer.still_live(c) for c in call.segment.captures.values()]
                if not all(live):
                    log.warning("call %s: a capture ended while away", call.call_id)
                    async with self._lock(call.call_id):  # what it holds is delivered
                        await self._drive(call, Reconnected(parties_alive=True, capturing=False))
            log.info("call %s recovered (recording=%s)", call.call_id, call.recording)
        await self._reap_orphans(channels)
        self.connected.set()

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
