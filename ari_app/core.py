"""What every part of the Stasis app shares: the calls, their locks and persistence.

``StasisApp`` (``ari_app/app.py``) is assembled from parts, each a module
small enough to read in one sitting: the machine's effects, agent actions
and hangups (``effects``), transfers (``transfers``) and reconciling after a
(re)connect (``reconcile``). They share the state kept here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ari_app.capture import Capturer
from ari_app.capturers import CaptureKind, Capturers
from ari_app.client import AriClient
from ari_app.mixmonitor_capture import MixMonitorCapturer
from ari_app.translate import AriTranslator
from callcore.ami import Ami
from callcore.finish import Handoff
from callcore.ids import safe_id
from callcore.machine import CallMachine, resume
from callcore.mixmonitor import MonitorDir
from callcore.registry import CallRegistry
from callcore.state import CallState
from callcore.state_store import StateStore
from callcore.waiters import Waiters
from policy import Config

log = logging.getLogger("callrec.ari")

REFUSAL_TONE = "sound:beeperr"  # a short error beep the agent hears (not the customer)
EVENT_TYPES = [
    "StasisStart",
    "StasisEnd",
    "ChannelDestroyed",
    "ChannelHangupRequest",
    "ChannelDtmfReceived",
    "RecordingStarted",
    "RecordingFinished",
    "RecordingFailed",
    "PlaybackFinished",
    "BridgeBlindTransfer",
    "BridgeAttendedTransfer",
    "ChannelVarset",  # only CALLREC_CONTINUE_RECORDING on an agent's channel is kept
]


class CallSetupError(ValueError):
    """Bad input for a new call (unknown agent, bad number): a 400, not a crash."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class StasisCore:
    """The state of every Stasis call on one Asterisk, and the helpers around it."""

    def __init__(
        self,
        client: AriClient,
        *,
        config: Callable[[], Config],
        registry: CallRegistry,
        store: StateStore,
        handoff: Handoff,
        recording_dir: Path,
        agent_endpoint: Callable[[str], str],
        customer_endpoint: Callable[[str], str],
        dtmf: dict[str, str] | None = None,
        dtmf_timeout: float = 2.0,
        default_region: str = "US",
        originate_formats: str | None = None,
        capture: CaptureKind = "snoop",
        ami: Ami | None = None,
        monitor: MonitorDir | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.registry = registry
        self.store = store
        self.handoff = handoff
        self.agent_endpoint = agent_endpoint
        self.customer_endpoint = customer_endpoint
        self.dtmf = dtmf or {"*1": "toggle_record", "*2": "toggle_pause"}
        self.dtmf_timeout = dtmf_timeout
        self.default_region = default_region
        self.originate_formats = originate_formats  # e.g. "slin" for simulated parties
        self.waiters = Waiters()
        # New segments start with the configured backend (snoops, or
        # MixMonitor over AMI); running ones stay with the one that started them.
        mixmonitor = MixMonitorCapturer(ami, monitor) if ami and monitor else None
        snoop = Capturer(client, self.waiters, recording_dir)
        self.capturer = Capturers(snoop, mixmonitor, capture)
        self.calls: dict[str, CallState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # ARI events -> call machine events (roles, DTMF, hangups, arrivals):
        # the same translator the recorded streams are replayed through.
        self.translator = AriTranslator(self.dtmf, dtmf_timeout)
        self.machines: dict[str, CallMachine] = {}  # each call's recording life
        self._tasks: set[asyncio.Task[Any]] = set()
        self._delivering: set[asyncio.Task[str | None]] = set()  # hand-offs under way
        self._recapturing: set[str] = set()  # calls whose owed capture is being retried
        self._rechecking: set[str] = set()  # calls dialling at a reconcile, looked at later
        self._events_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.connected = asyncio.Event()

    def _spawn(self, coro: Any, what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed", what)

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lock(self, call_id: str) -> asyncio.Lock:
        return self._locks.setdefault(call_id, asyncio.Lock())

    def _save(self, call: CallState) -> None:
        self.store.save(call)
        self.registry.changed(call)

    def _track(self, call: CallState) -> None:
        self.calls[call.call_id] = call
        if call.call_id not in self.machines:
            self.machines[call.call_id] = CallMachine(resume(call))
        self.translator.add_call(call.call_id, call.channels)
        if call.transfer is not None and call.transfer.channel:  # rebuilt mid-transfer
            self._tell_transfer(call)
        self.registry.register(call, self)

    def _tell_transfer(self, call: CallState) -> None:
        """The translator learns of an API transfer as replays do: a Callrec record."""
        assert call.transfer is not None
        self.translator.feed(
            {
                "type": "CallrecTransfer",
                "call_id": call.call_id,
                "agent": call.transfer.agent,
                "continue_recording": call.transfer.continue_recording,
                "transfer_channel": call.transfer.channel,
            }
        )

    def _validate_agent(self, agent: str) -> None:
        if not safe_id(agent or ""):
            raise CallSetupError("call.bad_agent", f"agent id {agent!r} is not a valid id")

    async def drain(self, timeout: float = 15.0) -> None:
        """Wait for the hand-offs under way (what is not done by then is retried)."""
        if self._delivering:
            await asyncio.wait(set(self._delivering), timeout=timeout)

    # Provided by the parts (effects, transfers): the registry's CallController.
    async def perform(self, call: CallState, action: str) -> None:
        raise NotImplementedError

    async def transfer(self, call: CallState, agent: str, continue_recording: bool) -> None:
        raise NotImplementedError
