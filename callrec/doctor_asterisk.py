"""The Asterisk checks of ``callrec doctor``, each asking Asterisk itself.

Asterisk is asked through ARI (info, the Stasis app, dialplan globals, its
clock, and a probe file it must see and copy in the recording directory),
AMI (login; ``ListCommands`` shows which actions the user's write classes
allow) and its CLI (``dialplan show``, ``features show``, ``manager show
user``: what ARI and AMI cannot tell without extra privilege).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
import uuid
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from callcore.ami import Ami, AmiError
from callrec import sandbox
from callrec.doctor import Check, clock_skew, ok, problem
from callrec.service import AsteriskLink
from callrec.settings import ServiceSettings

# Dialplan contexts a node needs (dialplan/callrec-agi.conf, callrec-stasis.conf).
CONTEXTS = (
    "callrec-agi-prepare",
    "callrec-agi-answer",
    "callrec-agi-hangup",
    "callrec-agi-fallback",
    "callrec-agi-dtmf",
    "callrec-agi-transfer",
    "callrec-inbound",
)
GLOBALS = ("CALLREC_APP", "CALLREC_AGI", "CALLREC_STASIS_FALLBACK")
# AMI actions callrec sends, with the write class that grants each (docs/DIALPLAN.md).
AMI_ACTIONS = {
    "Getvar": "call",
    "Setvar": "call",
    "Redirect": "call",
    "StopMixMonitor": "call",
    "MixMonitorMute": "call",
    "MixMonitor": "system",
}
# Events callrec listens to come in these read classes.
AMI_READ = ("call", "user")

Cli = Callable[[str], str]


class CliUnavailable(RuntimeError):
    pass


def cli_runner(settings: ServiceSettings) -> Cli | None:
    """How to run an Asterisk CLI command: the sandbox's, ``cli_command``, or ``asterisk -rx``."""
    a = settings.asterisk
    if a.instance and not a.ari_url:
        inst = sandbox.load_instance(a.instance)
        return inst.cli if inst is not None else None
    argv = list(a.cli_command) if a.cli_command else None
    if argv is None:
        found = shutil.which("asterisk")
        if found is None:
            return None
        argv = [found, "-rx"]

    def run(command: str) -> str:
        try:
            proc = subprocess.run(
                [*argv, command], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CliUnavailable(f"{' '.join(argv)}: {exc}") from exc
        if proc.returncode != 0 and not proc.stdout:
            raise CliUnavailable(f"{' '.join(argv)}: {proc.stderr.strip() or proc.returncode}")
        return proc.stdout

    return run


# ------------------------------------------------------------------ ARI


class Ari:
    def __init__(self, link: AsteriskLink) -> None:
        self.base = link.ari_url.rstrip("/")
        self.http = aiohttp.ClientSession(
            auth=aiohttp.BasicAuth(link.ari_user, link.ari_password),
            timeout=aiohttp.ClientTimeout(total=5),
        )

    async def request(self, method: str, path: str, **params: str) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, params=params) as resp:
            body = await resp.json(content_type=None) if resp.content_length != 0 else None
            return resp.status, body

    async def variable(self, name: str) -> str | None:
        status, body = await self.request("GET", "/asterisk/variable", variable=name)
        return str(body.get("value", "")) if status == 200 and body else None

    async def close(self) -> None:
        await self.http.close()


async def ari_checks(link: AsteriskLink, settings: ServiceSettings) -> list[Check]:
    ari = Ari(link)
    try:
        try:
            status, body = await ari.request("GET", "/asterisk/info")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return [
                problem(
                    "ari",
                    f"no answer from ARI at {link.ari_url}: {exc or type(exc).__name__}",
                    "enable Asterisk's HTTP server on that address (http.conf [general] "
                    "enabled = yes, bindaddr, bindport) and res_ari, or fix [asterisk] ari_url",
                )
            ]
        if status == 401:
            return [
                problem(
                    "ari",
                    f"ARI at {link.ari_url} refused user {link.ari_user!r}",
                    "add the user to ari.conf (`callrec asterisk print-config`) or fix "
                    "[asterisk] ari_user / ari_password",
                )
            ]
        if status != 200:
            return [problem("ari", f"ARI answered {status}", "see Asterisk's log")]
        version = (body or {}).get("system", {}).get("version", "?")
        found = [ok("ari", f"ARI answers at {link.ari_url} (Asterisk {version})")]
        found.append(await _app_check(ari, link))
        found.extend(await _globals_check(ari, link, settings))
        found.append(await _clock_asterisk(ari))
        found.append(await _recording_dir_check(ari, link))
        return found
    finally:
        await ari.close()


async def _app_check(ari: Ari, link: AsteriskLink) -> Check:
    status, _ = await ari.request("GET", f"/applications/{link.app}")
    if status == 200:
        return ok("ari.app", f"Stasis application {link.app!r} is registered")
    return problem(
        "ari.app",
        f"no Stasis application {link.app!r} is registered with this Asterisk",
        "start `callrec serve` on this node (it registers the app when it connects), or make "
        "[asterisk] app match CALLREC_APP",
    )


async def _globals_check(ari: Ari, link: AsteriskLink, settings: ServiceSettings) -> list[Check]:
    values = {name: await ari.variable(name) for name in GLOBALS}
    missing = [name for name, value in values.items() if not value]
    if missing:
        return [
            problem(
                "dialplan.globals",
                f"dialplan globals not set: {', '.join(missing)}",
                "add callrec's [globals] lines to extensions.conf (`callrec asterisk "
                "print-config`), then `dialplan reload`",
            )
        ]
    found = []
    if values["CALLREC_APP"] != link.app:
        found.append(
            problem(
                "dialplan.globals",
                f"CALLREC_APP is {values['CALLREC_APP']!r}, this node's app is {link.app!r}",
                "make them the same (extensions.conf [globals] or [asterisk] app)",
            )
        )
    agi = urlsplit(str(values["CALLREC_AGI"]))
    agi_host = settings.agi.host
    if (
        agi.scheme != "agi"
        or agi.port != link.agi_port
        or agi.hostname
        not in (
            agi_host,
            "localhost" if agi_host == "127.0.0.1" else agi_host,
        )
    ):
        found.append(
            problem(
                "dialplan.globals",
                f"CALLREC_AGI is {values['CALLREC_AGI']!r}, but this node serves FastAGI on "
                f"{agi_host}:{link.agi_port}",
                f"set CALLREC_AGI = agi://{agi_host}:{link.agi_port} in extensions.conf "
                "[globals] (or [agi] host/port in service.toml)",
            )
        )
    if not found:
        found.append(ok("dialplan.globals", f"CALLREC_AGI = {values['CALLREC_AGI']}"))
    found.append(await agi_reachable(str(values["CALLREC_AGI"])))
    return found


async def agi_reachable(url: str) -> Check:
    """Connect where Asterisk's dialplan sends FastAGI requests (CALLREC_AGI)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 4573
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
    except (OSError, TimeoutError) as exc:
        return problem(
            "agi.reachable",
            f"nothing accepts FastAGI at {host}:{port} (the address in CALLREC_AGI): {exc}",
            "start `callrec serve` (it serves FastAGI there), or make CALLREC_AGI and [agi] agree",
        )
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ok("agi.reachable", f"FastAGI accepts connections at {host}:{port}")


async def _clock_asterisk(ari: Ari) -> Check:
    before = time.time()
    epoch = await ari.variable("EPOCH")
    after = time.time()
    if not epoch or not epoch.isdigit():
        return problem("clock.asterisk", "Asterisk did not give its time (EPOCH)", "see its log")
    skew = int(epoch) - (before + after) / 2
    return clock_skew("clock.asterisk", "Asterisk", skew, tolerance=1.0)


def _probe_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 80)


async def _recording_dir_check(ari: Ari, link: AsteriskLink) -> Check:
    """Write a probe where callrec reads recordings; Asterisk must see it and copy it."""
    folder = link.recording_dir
    name = f"callrec-doctor-{uuid.uuid4().hex}"
    probe = folder / f"{name}.wav"
    try:
        _probe_wav(probe)
    except OSError as exc:
        return problem(
            "dirs.recording",
            f"callrec cannot write in the recording directory {folder}: {exc.strerror or exc}",
            "make the directory writable by callrec's user: group asterisk with g+rwxs "
            "(docs/INSTALL.md), or fix [asterisk] recording_dir",
        )
    try:
        status, _ = await ari.request("GET", f"/recordings/stored/{name}")
        if status != 200:
            return problem(
                "dirs.recording",
                f"Asterisk does not see files callrec writes in {folder}: it is not "
                "Asterisk's recording directory (or not the same directory on its host)",
                "set [asterisk] recording_dir to Asterisk's astspooldir/recording as this "
                "host sees it (share it when Asterisk runs elsewhere)",
            )
        status, body = await ari.request(
            "POST", f"/recordings/stored/{name}/copy", destinationRecordingName=f"{name}-copy"
        )
        copied = folder / f"{name}-copy.wav"
        if status != 200 or not copied.exists():
            return problem(
                "dirs.recording",
                f"Asterisk cannot write in {folder} ({status}: {(body or {}).get('message')})",
                "make the directory writable by Asterisk's user (group asterisk, g+rwxs)",
            )
        return ok("dirs.recording", f"{folder} is shared: both callrec and Asterisk write there")
    finally:
        for n in (name, f"{name}-copy"):
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                await ari.request("DELETE", f"/recordings/stored/{n}")
        for path in (probe, folder / f"{name}-copy.wav"):
            path.unlink(missing_ok=True)


# ------------------------------------------------------------------ AMI + CLI


async def ami_checks(link: AsteriskLink, cli: Cli | None) -> list[Check]:
    ami = Ami(link.ami, timeout=5.0)
    where = f"{link.ami.host}:{link.ami.port}"
    try:
        await ami.connect()
    except (AmiError, OSError, TimeoutError) as exc:
        return [
            problem(
                "ami.login",
                f"AMI user {link.ami.user!r} cannot log in at {where}: {exc}",
                "enable AMI (manager.conf [general] enabled = yes, port) and add the user "
                "(`callrec asterisk print-config`), or fix [asterisk] ami_* settings",
            )
        ]
    try:
        found = [ok("ami.login", f"AMI user {link.ami.user!r} logged in at {where}")]
        allowed = await ami.action("ListCommands")
        lacking = {cls for action, cls in AMI_ACTIONS.items() if action not in allowed}
        missing_actions = [a for a in AMI_ACTIONS if a not in allowed]
        if lacking:
            found.append(
                problem(
                    "ami.classes",
                    f"AMI user {link.ami.user!r} may not send {', '.join(missing_actions)} "
                    f"(write class {', '.join(sorted(lacking))} missing)",
                    f"manager.conf [{link.ami.user}]: write = call,system",
                )
            )
        else:
            found.append(ok("ami.classes", "write classes allow every action callrec sends"))
    finally:
        await ami.close()
    found.append(_ami_read_classes(link.ami.user, cli))
    return found


def _cli_problem(check_id: str, what: str, exc: Exception | None) -> Check:
    reason = f": {exc}" if exc else ""
    return problem(
        check_id,
        f"cannot check {what}: Asterisk's CLI is not reachable from here{reason}",
        "run doctor on the Asterisk host as a user allowed to run `asterisk -rx` (root or "
        "group asterisk), or set [asterisk] cli_command",
    )


def _ami_read_classes(user: str, cli: Cli | None) -> Check:
    if cli is None:
        return _cli_problem("ami.read", "the AMI user's read classes", None)
    try:
        out = cli(f"manager show user {user}")
    except CliUnavailable as exc:
        return _cli_problem("ami.read", "the AMI user's read classes", exc)
    have: set[str] = set()
    for line in out.splitlines():
        if line.strip().startswith("read perm:"):
            have = {p.strip() for p in line.split(":", 1)[1].split(",")}
    lacking = [c for c in AMI_READ if c not in have and "all" not in have]
    if lacking:
        return problem(
            "ami.read",
            f"AMI user {user!r} does not receive {', '.join(lacking)} events "
            f"(read = {','.join(sorted(have)) or 'nothing'})",
            f"manager.conf [{user}]: read = call,user, then `manager reload`",
        )
    return ok("ami.read", f"AMI user {user!r} reads {','.join(sorted(have))}")


async def dialplan_checks(
    cli: Cli | None, settings: ServiceSettings, link: AsteriskLink
) -> list[Check]:
    """Contexts and the DTMF map from the CLI; without it, contexts through AMI."""
    reason: Exception | None = None
    if cli is not None:
        try:
            return await asyncio.to_thread(_dialplan_by_cli, cli, settings)
        except CliUnavailable as exc:
            reason = exc
    return [
        await _contexts_by_ami(link),
        _cli_problem("dialplan.features", "the DTMF feature map", reason),
    ]


def _contexts_check(missing: list[str], how: str) -> Check:
    if missing:
        return problem(
            "dialplan.contexts",
            f"dialplan contexts not loaded: {', '.join(missing)}",
            "add the #include lines of `callrec asterisk print-config` to extensions.conf, "
            "install the files it names, then `dialplan reload`",
        )
    return ok("dialplan.contexts", f"all {len(CONTEXTS)} callrec contexts loaded ({how})")


async def _contexts_by_ami(link: AsteriskLink) -> Check:
    """DIALPLAN_EXISTS() through AMI Getvar: needs func_dialplan, not the CLI."""
    ami = Ami(link.ami, timeout=5.0)
    try:
        await ami.connect()
        values = {
            ctx: (await ami.action("Getvar", Variable=f"DIALPLAN_EXISTS({ctx})")).get("Value", "")
            for ctx in CONTEXTS
        }
    except (AmiError, OSError, TimeoutError) as exc:
        return _cli_problem("dialplan.contexts", "the dialplan (nor through AMI)", exc)
    finally:
        await ami.close()
    if any(v not in ("0", "1") for v in values.values()):
        return problem(
            "dialplan.contexts",
            "cannot check the dialplan: no Asterisk CLI here, and AMI cannot evaluate "
            "DIALPLAN_EXISTS()",
            "load func_dialplan.so in Asterisk, or run doctor where `asterisk -rx` works "
            "(or set [asterisk] cli_command)",
        )
    return _contexts_check([c for c, v in values.items() if v != "1"], "AMI DIALPLAN_EXISTS")


def _dialplan_by_cli(cli: Cli, settings: ServiceSettings) -> list[Check]:
    missing = [ctx for ctx in CONTEXTS if "There is no existence" in cli(f"dialplan show {ctx}")]
    features = cli("features show")
    found = [_contexts_check(missing, "CLI")]
    want = {
        "callrec_toggle": settings.dtmf.toggle_record,
        "callrec_pause": settings.dtmf.toggle_pause,
    }
    have = {}
    for line in features.splitlines():
        parts = line.split()
        if parts and parts[0] in want:
            have[parts[0]] = parts[-1]
    wrong = [
        f"{k} (want {v}, have {have.get(k, 'none')})" for k, v in want.items() if have.get(k) != v
    ]
    if wrong:
        found.append(
            problem(
                "dialplan.features",
                f"DTMF features not in Asterisk's applicationmap: {', '.join(wrong)}",
                "add the [applicationmap] lines of `callrec asterisk print-config` to "
                "features.conf, then `module reload features`",
            )
        )
    else:
        found.append(ok("dialplan.features", "callrec_toggle and callrec_pause are mapped"))
    return found


def monitor_dir_check(cli: Cli | None, link: AsteriskLink) -> list[Check]:
    """MixMonitor's relative files (the dialplan's fallback recordings) land in
    Asterisk's spool/monitor: that must be the directory callrec watches."""
    what = "Asterisk's monitor directory"
    if cli is None:
        return [_cli_problem("dirs.monitor.asterisk", what, None)]
    try:
        out = cli("core show settings")
    except CliUnavailable as exc:
        return [_cli_problem("dirs.monitor.asterisk", what, exc)]
    spool = next(
        (
            line.split(":", 1)[1].strip()
            for line in out.splitlines()
            if line.strip().startswith("Spool directory:")
        ),
        "",
    )
    if not spool:
        return [problem("dirs.monitor.asterisk", "Asterisk did not say its spool directory", "")]
    expected = f"{spool.rstrip('/')}/monitor"
    if expected != link.monitor_dir_asterisk.rstrip("/"):
        return [
            problem(
                "dirs.monitor.asterisk",
                f"Asterisk writes MixMonitor files to {expected}, but this node expects "
                f"{link.monitor_dir_asterisk}",
                "set [asterisk] asterisk_monitor_dir (and monitor_dir, as this host sees it) "
                "to Asterisk's astspooldir/monitor",
            )
        ]
    return [ok("dirs.monitor.asterisk", f"Asterisk's MixMonitor directory is {expected}")]
