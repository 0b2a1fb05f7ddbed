"""Dialplan path: channels leaving (AMI Hangup), restart recovery, AMI reconnect."""

from __future__ import annotations

import asyncio
import logging
import time

from agi_scripts.agi_segments import _NOTE_TTL, CONTINUE_EVENT, HANGUP_EVENT_WAIT, AgiSegments
from agi_scripts.ami import AmiError
from callcore.ids import CONTINUE_VAR, is_true

log = logging.getLogger("callrec.agi")


class AgiHangups(AgiSegments):
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
