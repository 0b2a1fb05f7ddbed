"""``callrec serve``: one node's service, every part wired together.

Starts, in order: the policy (hot reloaded), storage (database, outbox workers,
nightly jobs), the live-call registry, the Stasis app (ARI), the FastAGI/AMI
path, and the HTTP API + console. Stops in reverse. Live calls survive a
restart: their state is persisted and both call paths reconcile on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from agi_scripts.agi_auth import MIN_SECRET_LENGTH
from agi_scripts.service import AgiService
from ari_app.app import StasisApp
from ari_app.client import AriClient
from callcore import fallback
from callcore.ami import Ami, AmiAddress, AmiError
from callcore.finish import Handoff
from callcore.ids import endpoint
from callcore.mixmonitor import MonitorDir
from callcore.registry import CallNotFound, CallRegistry
from callcore.state import CallState
from callcore.state_store import StateStore
from callrec.cluster import Cluster
from callrec.logs import watch_calls
from callrec.policy_holder import PolicyHolder
from callrec.settings import ServiceSettings, SettingsError, node_name, sandbox_instance
from callrec.truth_collector import TruthCollector
from console.app import build_app
from storage import outbox, verification
from storage.jobs import run_nightly
from storage.service import StorageService
from storage.webhooks import WebhookWorker

log = logging.getLogger("callrec.service")


@dataclass(frozen=True)
class AsteriskLink:
    ari_url: str
    ari_user: str
    ari_password: str
    app: str
    ami: AmiAddress
    agi_port: int
    recording_dir: Path
    monitor_dir_host: Path
    monitor_dir_asterisk: str
    agi_secret: str | None = None


def asterisk_link(settings: ServiceSettings) -> AsteriskLink:
    """Connection details: from the sandbox's state, or spelled out in settings."""
    a = settings.asterisk
    inst = sandbox_instance(settings)
    if inst is not None:
        return AsteriskLink(
            ari_url=inst.ari_url,
            ari_user=inst.ari_user,
            ari_password=inst.ari_password,
            app=inst.app,
            ami=AmiAddress("127.0.0.1", inst.ports.ami, inst.ami_user, inst.ami_secret),
            agi_port=settings.agi.port or inst.ports.agi,
            recording_dir=inst.recording_dir,
            monitor_dir_host=inst.monitor_dir,
            monitor_dir_asterisk=f"{inst.ast_dir}/spool/monitor",
            agi_secret=inst.agi_secret or None,
        )
    missing = [
        k
        for k in ("ari_url", "ari_user", "ari_password", "ami_port", "ami_user", "ami_secret")
        if getattr(a, k) in (None, "")
    ]
    if missing:
        raise SettingsError(f"[asterisk] needs {', '.join(missing)} (or instance = NAME)")
    try:
        agi_secret = settings.agi.secret()
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if agi_secret is None or len(agi_secret) < MIN_SECRET_LENGTH:
        raise SettingsError(
            f"[agi] secret_file must hold the dialplan's CALLREC_AGI_SECRET "
            f"({MIN_SECRET_LENGTH}+ characters; docs/OPERATIONS.md, Security)"
        )
    recording_dir = a.recording_dir or Path("/var/spool/asterisk/recording")
    monitor_dir = a.monitor_dir or Path("/var/spool/asterisk/monitor")
    return AsteriskLink(
        ari_url=str(a.ari_url),
        ari_user=str(a.ari_user),
        ari_password=str(a.ari_password),
        app=a.app,
        ami=AmiAddress(a.ami_host, int(a.ami_port or 5038), str(a.ami_user), str(a.ami_secret)),
        agi_port=settings.agi.port or 4573,
        recording_dir=recording_dir,
        monitor_dir_host=monitor_dir,
        monitor_dir_asterisk=a.asterisk_monitor_dir or str(monitor_dir),
        agi_secret=agi_secret,
    )


class Service:
    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.stop_event = asyncio.Event()
        self.policy = PolicyHolder(settings.policy_config)
        self.storage = StorageService.open(settings.storage)
        self.registry = CallRegistry()
        self.call_fields = watch_calls(self.registry.all, self._live_call)
        self.node_id = node_name(settings)
        self.cluster = Cluster(self.storage.db, self.registry, self.node_id)
        self.registry.cluster = self.cluster
        self.registry.post_transfer_mode = lambda call: self.policy.config.post_transfer_mode_for(
            call.campaign, call.lead_list
        )
        state_dir = settings.state_dir
        self.store = StateStore(state_dir / "calls")
        self.handoff = Handoff(self.storage, state_dir / "pending")
        self.link = asterisk_link(settings)
        self.stasis: StasisApp | None = None
        self.stasis_ami: Ami | None = None
        self.agi: AgiService | None = None
        self.truth: TruthCollector | None = None
        self.runner: web.AppRunner | None = None
        self.http_url = ""
        self.first_run_login = ""
        self._tasks: list[asyncio.Task[Any]] = []

    def _live_call(self, call_id: str) -> CallState | None:
        try:
            return self.registry.get(call_id)
        except CallNotFound:
            return None

    def _users(self) -> Any:
        """The users file; with none configured, a first-run admin is created.

        Its password goes to a 0600 file beside it, never to the log.
        """
        from console.users import UserStore, hash_password

        path = self.settings.http.users_file
        if path is None:
            path = self.settings.state_dir.parent / "users.toml"
            secret_file = path.with_name("admin-password")
            if not path.exists():
                password = secrets.token_urlsafe(12)
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(password + "\n")
                path.write_text(
                    "# Created on first run; edit or replace (docs/CONSOLE.md).\n"
                    '[roles.admin]\npermissions = ["admin", "calls", "metrics"]\n\n'
                    f'[users.admin]\npassword_hash = "{hash_password(password)}"\n'
                    'roles = ["admin"]\n'
                )
            self.first_run_login = f"user admin, password in {secret_file}"
        return UserStore.load(path)

    async def start(self) -> None:
        s = self.settings
        link = self.link
        endpoints = s.endpoints
        client = AriClient(link.ari_url, link.ari_user, link.ari_password, link.app)
        # The Stasis path's own AMI connection (its MixMonitor actions never
        # wait behind the dialplan path's), opened with snoops too: segments a
        # previous run started with MixMonitor are still stopped by it.
        self.stasis_ami = Ami(link.ami)
        await self.stasis_ami.connect()
        self.stasis = StasisApp(
            client,
            config=lambda: self.policy.config,
            registry=self.registry,
            store=self.store,
            handoff=self.handoff,
            recording_dir=link.recording_dir,
            agent_endpoint=lambda agent: endpoint(
                endpoints.agents.get(agent, endpoints.agent), agent=agent
            ),
            customer_endpoint=lambda number: endpoint(
                endpoints.customer, number=number.lstrip("+")
            ),
            dtmf={s.dtmf.toggle_record: "toggle_record", s.dtmf.toggle_pause: "toggle_pause"},
            dtmf_timeout=s.dtmf.timeout_seconds,
            default_region=self.policy.config.org.default_region,
            capture=s.ari.capture,
            originate_formats=endpoints.formats or None,
            ami=self.stasis_ami,
            monitor=MonitorDir(link.monitor_dir_host, link.monitor_dir_asterisk),
        )
        await self.stasis.start()
        self.agi = AgiService(
            s,
            lambda: self.policy.config,
            self.registry,
            self.handoff,
            self.store,
            link.monitor_dir_host,
            link.monitor_dir_asterisk,
            link.ami,
            agi_port=link.agi_port,
            agi_secret=link.agi_secret,
        )
        await self.agi.start()
        await self._start_truth()
        app = build_app(
            self.registry,
            self.stasis,
            storage=self.storage,
            users=self._users(),
            policy=lambda: self.policy.config,
            max_body_bytes=s.http.max_body_bytes,
            session_secret=s.http.session_secret(),
            secure_cookies=s.http.secure_cookies,
            session_seconds=int(s.http.session_hours * 3600),
        )
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, s.http.host, s.http.port)
        await site.start()
        port = s.http.port
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            port = server.sockets[0].getsockname()[1]
        self.http_url = f"http://{s.http.host}:{port}"
        self.cluster.node_url = s.http.public_url or self.http_url
        self._tasks.append(asyncio.create_task(self.cluster.run(self.stop_event)))
        self._tasks.append(asyncio.create_task(self.policy.watch()))
        with contextlib.suppress(NotImplementedError, RuntimeError):
            self.policy.install_sighup(asyncio.get_running_loop())
        if self.storage.target is not None:
            self._tasks.append(
                asyncio.create_task(
                    outbox.run_workers(
                        self.storage.outbox_worker,
                        self.storage.cfg.outbox.workers,
                        self.stop_event,
                        self.storage.outbox_wake,
                    )
                )
            )
        if self.storage.cfg.webhooks.urls:
            hooks = WebhookWorker(
                self.storage.db, self.storage.cfg.webhooks, self.storage.cfg.outbox
            )
            self._tasks.append(asyncio.create_task(hooks.run_forever(self.stop_event)))
        self._tasks.append(asyncio.create_task(run_nightly(self.storage, self.stop_event)))
        self._tasks.append(asyncio.create_task(self._collect_fallbacks()))

    async def _start_truth(self) -> None:
        """Asterisk's own record of each call (CEL) and the capture check against it."""
        self.truth = TruthCollector(
            self.link.ami, self.storage.db, self.registry, node=self.storage.node
        )
        try:
            await self.truth.start()
        except AmiError as exc:  # recording goes on; verification will report the calls
            log.error("ground truth: no CEL from AMI (%s); calls will lack Asterisk spans", exc)
        self._tasks.append(
            asyncio.create_task(
                verification.run_periodically(
                    self.storage.db,
                    self.storage.cfg.store_root,
                    self.stop_event,
                    owner=self.storage.node + ":verify",
                    target=self.storage.target,
                )
            )
        )

    async def _collect_fallbacks(self, every: float = 60.0) -> None:
        """Store what the dialplan recorded alone while this service was down."""
        while not self.stop_event.is_set():
            await fallback.collect(self.link.monitor_dir_host, self.storage)
            await self.handoff.retry_pending()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), every)

    async def stop(self) -> None:
        self.stop_event.set()
        for handler in logging.getLogger().handlers:
            handler.removeFilter(self.call_fields)
        if self.runner is not None:
            await self.runner.cleanup()
        if self.agi is not None:
            await self.agi.stop()
        if self.truth is not None:
            await self.truth.stop()
        if self.stasis is not None:
            await self.stasis.stop()
            await self.stasis.client.close()
        if self.stasis_ami is not None:
            await self.stasis_ami.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.storage.close()

    def describe(self) -> str:
        s = self.settings
        upload = s.storage.upload
        target = upload.local_dir if upload.type == "local" else f"sftp {upload.host}"
        return "\n".join(
            [
                f"callrec serving on {self.http_url}  (console: {self.http_url}/console)",
                f"  node      {self.node_id}",
                f"  policy    {s.policy_config or 'embedded defaults'} (SIGHUP or edit reloads)",
                f"  Asterisk  {self.link.ari_url} (app {self.link.app}); "
                f"FastAGI on 127.0.0.1:{self.link.agi_port}; Stasis captures by {s.ari.capture}",
                f"  database  {redact_url(s.storage.db_url)}",
                f"  files     {s.storage.store_root}",
                f"  uploads   {upload.type}: {target}",
                f"  state     {s.state_dir}",
                f"  login     {self.first_run_login or s.http.users_file}",
            ]
        )


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``: start-up output ends up in logs."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return "<unreadable database URL>"
    return str(parsed.render_as_string(hide_password=True))


async def serve(settings: ServiceSettings, ready_file: Path | None = None) -> None:
    # Every file this service creates (recordings, state, database, hand-offs)
    # is its own user's only; the explicit modes in storage.files are the backstop.
    os.umask(0o077)
    service = Service(settings)
    await service.start()
    print(service.describe(), flush=True)
    if ready_file is not None:
        ready_file.write_text(service.http_url)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, service.stop_event.set)
    try:
        await service.stop_event.wait()
    finally:
        await service.stop()
