"""Dialplan path: AMI events in, restart recovery, reconcile after an AMI reconnect."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from agi_scripts.agi import AgiChannel
from agi_scripts.agi_effects import AgiEffects
from agi_scripts.agi_segments import HANGUP_EVENT_WAIT
from agi_scripts.translate import CHECKBOX_FIELD, Out
from callcore.ami import AmiError
from callcore.events import Event
from callcore.ids import CONTINUE_VAR, is_true
from callcore.machine import CallMachine, resume

log = logging.getLogger("callrec.agi")

# What the dialplan path listens to (AMI read class "call" and "user").
AMI_EVENTS = (
    "Hangup",
    "BlindTransfer",
    "AttendedTransfer",
    "UserEvent",
    "MixMonitorStart",
    "MixMonitorStop",
)
_TRANSFERER_KEYS = ("OrigTransfererUniqueid", "SecondTransfererUniqueid", "TransfererUniqueid")


class AgiHangups(AgiEffects):
    def _listen(self) -> None:
        for name in AMI_EVENTS:
            self.ami.on(name, self._ami_event)
        self.ami.on_reconnect(self.reconcile)

    def _ami_event(self, event: dict[str, str]) -> Awaitable[None] | None:
        """Synchronously, in event order: the translator sees each event as it comes;
        the machine runs afterwards, under each call's lock."""
        name = event.get("Event", "")
        out = self.translator.feed(event)
        if name == "Hangup":
            self.waiters.resolve("Gone", event.get("Uniqueid", ""), event)
        if name in ("BlindTransfer", "AttendedTransfer"):
            self._note_transfer(event)
        if name == "AttendedTransfer" and not out:
            return self._checkbox_then_complete(event)
        return self._apply(out, None) if out else None

    def _note_transfer(self, event: dict[str, str]) -> None:
        for key in _TRANSFERER_KEYS:
            call = self.calls.get(self._by_channel.get(event.get(key, ""), ""))
            if call is not None:
                call.last_transfer = event.get("Event", "")
                log.info("call %s: %s by %s (%s)", call.call_id, call.last_transfer,
                         event.get(key), event.get("Result"))  # fmt: skip
                return

    async def _checkbox_then_complete(self, event: dict[str, str]) -> None:
        """An AttendedTransfer whose transferring agent is still up: read its checkbox."""
        for key in _TRANSFERER_KEYS:
            call_id = self._by_channel.get(event.get(key, ""), "")
            transferer = self.translator.completing(call_id) if call_id else None
            if transferer:
                break
        else:
            return
        alive, flag = await self._agent_checkbox(transferer)
        if alive:  # else its UserEvent and Hangup complete the transfer
            await self._apply(self.translator.feed({**event, CHECKBOX_FIELD: str(int(flag))}), None)

    async def _apply(self, out: Out, chan: AgiChannel | None) -> None:
        """Translated events, per call in order, through each call's machine."""
        by_call: dict[str, list[Event]] = {}
        for call_id, event in out:
            by_call.setdefault(call_id, []).append(event)
        for call_id, events in by_call.items():
            call = self.calls.get(call_id)
            if call is None:
                continue
            async with self._locks[call_id]:
                await self._drive(call, events, chan)
            self.registry.changed(call)
            self._maybe_forget(call)

    async def _wait_gone(self, channel: str, timeout: float = HANGUP_EVENT_WAIT) -> bool:
        """Wait until the AMI Hangup of a destroyed channel arrived (its checkbox came first)."""
        if channel in self.translator.gone:
            return True
        gone = self.waiters.expect("Gone", channel)  # resolved by _ami_event
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
            alive = bool(agent) and not call.ended and await self._exists(agent, unsure=False)
            if alive:
                customer = call.channels.get("customer", "")
                consult = None
                if call.consult is not None and call.consulting is not None:
                    consult = (call.consult.uniqueid, call.consult.agent)
                    self._names[call.consult.uniqueid] = call.consult.name
                self.translator.adopt(call.call_id, call.agent, agent, customer, consult)
                self._names[agent] = call.agent_channel_name
                if call.segment is not None:
                    self.translator.expect_capture(
                        call.call_id, call.segment.segment_no, started=True
                    )
                self.machines[call.call_id] = CallMachine(resume(call))
                self.registry.register(call, self)
                log.info("call %s recovered after restart (recording=%s, consulting=%s)",
                         call.call_id, call.recording, consult is not None)  # fmt: skip
                if consult is not None and not await self._exists(consult[0], unsure=False):
                    # The consulted agent left while we were away: the transfer is off.
                    await self._apply(
                        self.translator.feed({"Event": "Hangup", "Uniqueid": consult[0]}), None
                    )
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
        callrec knows is looked up; the translator handles one that is gone
        as if its Hangup had arrived (the segment is delivered, the call
        forgotten), as the Stasis path does when its websocket comes back.
        Returns how many calls ended.
        """
        alive: list[str] = []
        for channel in list(self._by_channel):
            if channel not in self.translator.gone and await self._exists(channel):
                alive.append(channel)
        live = [c for c in self.calls.values() if not c.ended]
        out = self.translator.feed({"type": "CallrecConnected", "channels": alive})
        for _, event in out:
            log.warning("%s after the AMI reconnect", event)
        await self._apply(out, None)
        return sum(c.ended for c in live)

    async def _exists(self, uniqueid: str, unsure: bool = True) -> bool:
        try:
            await self.ami.getvar(uniqueid, "CALLREC_CALL_ID")
        except AmiError as exc:
            return unsure and "no such channel" not in str(exc).lower()
        return True

    async def drain(self, timeout: float = 15.0) -> None:
        """Wait for segments being finished (service stop)."""
        tasks = [t for ts in self._finishing.values() for t in ts]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
