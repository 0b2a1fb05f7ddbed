"""The FastAGI path as one service object that ``callrec serve`` starts and stops.

Wiring only: the FastAGI server, the AMI connection and the controller that
holds the calls. Nothing here decides anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from agi_scripts.agi import AgiChannel
from agi_scripts.agi_auth import AgiGuard, ami_channel_check
from agi_scripts.controller import AgiController
from agi_scripts.facts import valid_agent_id
from agi_scripts.server import AgiServer
from callcore.ami import Ami, AmiAddress
from callcore.call_settings import CallPathSettings
from callcore.finish import Handoff
from callcore.ids import endpoint
from callcore.mixmonitor import MonitorDir
from callcore.registry import CallRegistry
from callcore.state_store import StateStore
from policy import Config

log = logging.getLogger("callrec.agi.service")

DEFAULT_AGI_PORT = 4573


class AgiService:
    """FastAGI + AMI for dialplan-routed calls.

    ``policy`` returns the Config in force (e.g. ``lambda: holder.config``),
    so a reload applies to the next decision. ``monitor_dir_host`` is where
    this host sees MixMonitor's files, ``monitor_dir_asterisk`` the same
    directory as Asterisk sees it (they differ when Asterisk runs in a chroot).
    """

    def __init__(
        self,
        settings: CallPathSettings,
        policy: Callable[[], Config],
        registry: CallRegistry,
        handoff: Handoff,
        store: StateStore,
        monitor_dir_host: Path,
        monitor_dir_asterisk: str,
        ami: AmiAddress,
        *,
        agi_port: int | None = None,
        deadline: float = 3.0,
        agi_secret: str | None = None,
    ) -> None:
        self.settings = settings
        agi = settings.agi
        self.guard = AgiGuard.build(
            agi_secret or agi.secret(),
            agi.allow_peers,
            max_sessions=agi.max_sessions,
            max_lifetime=agi.max_session_seconds,
        )
        self.port = agi_port or settings.agi.port or DEFAULT_AGI_PORT
        self.ami = Ami(ami)
        if agi.verify_channels:
            self.guard.channel_check = ami_channel_check(self.ami.getvar)
        self.controller = AgiController(
            policy=policy,
            registry=registry,
            handoff=handoff,
            store=store,
            monitor=MonitorDir(host=monitor_dir_host, asterisk=monitor_dir_asterisk),
            ami=self.ami,
            agent_dial=self.agent_dial,
        )
        self.deadline = deadline
        self.server: AgiServer | None = None

    def agent_dial(self, agent: str) -> str | None:
        """The dial string for a transfer target, from settings only (never caller input)."""
        if not valid_agent_id(agent):
            return None
        endpoints = self.settings.endpoints
        return endpoint(endpoints.agents.get(agent, endpoints.agent), agent=agent)

    async def start(self) -> None:
        await self.ami.connect()
        await self.controller.recover()
        server = AgiServer(
            self.settings.agi.host, self.port, deadline=self.deadline, guard=self.guard
        )
        server.route("answer", self.controller.answer)
        server.route("toggle", self._toggle_record)
        server.route("pause", self._toggle_pause)
        await server.start()
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
        await self.controller.drain()
        await self.ami.close()

    async def _toggle_record(self, chan: AgiChannel) -> None:
        await self.controller.dtmf(chan, "toggle_record")

    async def _toggle_pause(self, chan: AgiChannel) -> None:
        await self.controller.dtmf(chan, "toggle_pause")
