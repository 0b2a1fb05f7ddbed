"""Dialplan-path state and segments: MixMonitor start/stop/mute, hand-off, forgetting.

The base of ``AgiController`` (``agi_scripts/controller.py``), which is
assembled from parts small enough to read in one sitting: this one (the
calls, what MixMonitor does for a segment, the finisher, forgetting),
``agi_effects`` (the call machine driven by the translator's events, its
effects carried out), ``agi_hangups`` (AMI events, restart recovery,
reconcile after an AMI reconnect) and ``agi_transfers`` (API transfer, the
decision's outputs on a channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from agi_scripts.agi import AgiChannel
from agi_scripts.translate import CONTINUE_EVENT, FROM_AGENT_VAR, AmiTranslator
from callcore import mixmonitor
from callcore.ami import Ami, AmiError
from callcore.finish import Handoff
from callcore.machine import CallMachine
from callcore.registry import CallNotFound, CallRegistry
from callcore.state import CallState, Capture, Segment
from callcore.state_store import StateStore
from callcore.waiters import Waiters
from policy import Config
from storage.segment import new_recording_id

__all__ = ["CONTINUE_EVENT", "FROM_AGENT_VAR", "AgiSegments"]  # names the parts share

log = logging.getLogger("callrec.agi")

TRANSFER_CONTEXT = "callrec-agi-transfer"
# How long to wait for the AMI Hangup of a channel Asterisk already destroyed
# (the event and the AGI request race). Well inside the AGI deadline.
HANGUP_EVENT_WAIT = 1.5


class AgiSegments:
    """The calls of the dialplan path and their segments."""

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
        self.policy = policy
        self.registry = registry
        self.handoff = handoff
        self.store = store
        self.monitor = monitor
        self.ami = ami
        self.agent_dial = agent_dial
        self.close_timeout = close_timeout
        self.calls: dict[str, CallState] = {}
        # Which channel plays which role, fed every AMI event and request
        # (the same translator the replay tests feed recorded streams).
        self.translator = AmiTranslator()
        self.machines: dict[str, CallMachine] = {}
        self._names: dict[str, str] = {}  # uniqueid -> channel name, from AGI requests
        self._locks: dict[str, asyncio.Lock] = {}
        self._finishing: dict[str, set[asyncio.Task[None]]] = {}
        self.waiters = Waiters()

    @property
    def _by_channel(self) -> dict[str, str]:
        """Channels of live calls (agent, consulted agent, customer) -> call id."""
        return self.translator.by_channel

    async def _mute(self, call: CallState, muted: bool) -> None:
        await self.ami.action(
            "MixMonitorMute",
            Channel=call.channels.get("agent", ""),
            Direction="both",
            State="1" if muted else "0",
        )
        if call.segment is not None:
            if muted:
                call.segment.open_pause(time.time())
            else:
                call.segment.close_pause(time.time())

    async def _start(self, call: CallState, chan: AgiChannel | None, number: int) -> None:
        """MixMonitor on the agent's channel: in the AGI session when it runs
        there, else through AMI."""
        legs = call.current_decision().legs
        recording_id = new_recording_id()
        if chan is not None:
            await chan.exec("MixMonitor", mixmonitor.app_data(self.monitor, recording_id, legs))
            mix_id = await chan.get(f"${{{mixmonitor.MIXMONITOR_ID_VAR}}}")
        else:
            channel = call.channels.get("agent", "")
            await self.ami.action(
                "MixMonitor",
                Channel=channel,
                Options=mixmonitor.options(self.monitor, recording_id, legs),
            )
            mix_id = await self.ami.getvar(channel, mixmonitor.MIXMONITOR_ID_VAR)
        now = time.time()
        seg = Segment(
            recording_id=recording_id,
            segment_no=number,
            agent=call.agent,
            legs=legs,
            decision=call.current_decision(),
            started_at=now,
        )
        for leg in mixmonitor.legs_captured(legs):
            seg.captures[leg] = Capture(
                leg=leg,
                handle=recording_id,
                host_path=str(self.monitor.host_path(recording_id, leg)),
                started_at=now,
            )
        call.segments = number
        call.mixmonitor_id = mix_id
        call.segment = seg

    async def _stop(self, call: CallState, chan: AgiChannel | None, channel: str = "") -> None:
        """StopMixMonitor on ``channel`` (the one it records; by default the agent's).

        The files are handed off by ``_end_segment`` once closed. After an
        attended transfer the call's agent is already the new one while the
        segment's MixMonitor is still on the transferring agent's channel.
        """
        mix_id = call.mixmonitor_id
        if chan is not None:
            await chan.exec("StopMixMonitor", mix_id)
        else:
            fields = {"Channel": channel or call.channels.get("agent", "")}
            if mix_id:
                fields["MixMonitorID"] = mix_id
            try:
                await self.ami.action("StopMixMonitor", **fields)
            except AmiError as exc:  # the channel may be gone already: files close anyway
                gone = "no such channel" in str(exc).lower()  # its Hangup is on the way
                log.log(logging.INFO if gone else logging.WARNING,
                        "call %s: StopMixMonitor: %s", call.call_id, exc)  # fmt: skip

    def _end_segment(self, call: CallState) -> None:
        seg = call.segment
        if seg is None:
            return
        now = time.time()
        seg.ended_at = now
        if seg.paused:
            seg.close_pause(now)
        call.segment = None
        task = asyncio.create_task(self._finish(call, seg))
        self._finishing.setdefault(call.call_id, set()).add(task)
        task.add_done_callback(lambda t: self._finished(call, t))

    async def _finish(self, call: CallState, seg: Segment) -> None:
        paths = [Path(c.host_path) for c in seg.captures.values()]
        if not await mixmonitor.wait_closed(paths, self.close_timeout):
            log.error("recording %s: MixMonitor files not closed in time", seg.recording_id)
        await self.handoff.deliver(call, seg)
        log.info("recording %s handed off (call %s)", seg.recording_id, call.call_id)

    def _finished(self, call: CallState, task: asyncio.Task[None]) -> None:
        self._finishing.get(call.call_id, set()).discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "call %s: finishing a segment failed", call.call_id, exc_info=task.exception()
            )
        self._maybe_forget(call)

    def _maybe_forget(self, call: CallState) -> None:
        if not call.ended or self._finishing.get(call.call_id):
            if not call.ended:
                self.store.save(call)
            return
        self.calls.pop(call.call_id, None)
        self._locks.pop(call.call_id, None)
        self._finishing.pop(call.call_id, None)
        self.machines.pop(call.call_id, None)
        for channel in self.translator.forget(call.call_id):
            self._names.pop(channel, None)
        self.store.delete(call.call_id)
        with contextlib.suppress(CallNotFound):
            self.registry.unregister(call.call_id)

    # Provided by the parts (controller, transfers): the registry's CallController.
    async def perform(self, call: CallState, action: str) -> None:
        raise NotImplementedError

    async def transfer(self, call: CallState, agent: str, continue_recording: bool) -> None:
        raise NotImplementedError
