"""Service settings: how this callrec node is wired (``service.toml``).

Kept apart from the recording policy (``callrec.toml``, admin-edited and hot
reloaded): these say which Asterisk to talk to, where to listen and where
files go, and change only with a restart. ``callrec serve`` and every
storage command read the same file (``--settings`` or ``$CALLREC_SETTINGS``).

A file that names no sandbox instance is a production file: the keys in
``REQUIRED`` must be spelled out there, and a missing one is an error that
names the key and why, never a quiet fall-back to the sandbox's parties or
the demo's SQLite. Only ``callrec demo`` runs on embedded defaults.
"""

from __future__ import annotations

import os
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callcore.call_settings import AgiSettings as AgiSettings
from callcore.call_settings import EndpointSettings as EndpointSettings
from callrec import sandbox
from storage.config import StorageConfig

SETTINGS_ENV = "CALLREC_SETTINGS"

Use = Literal["serve", "storage"]


class SettingsError(ValueError):
    code = "settings.invalid"


class SettingsMissing(SettingsError):
    """No settings file, or a production setting left out of it."""

    code = "settings.missing"


# Keys a production file must set, which commands need them, and why: the
# embedded defaults are the sandbox's and the demo's, wrong for a real site.
REQUIRED: dict[str, tuple[frozenset[str], str]] = {
    "storage.db_url": (
        frozenset({"serve", "storage"}),
        "the recordings database; every node of a site names the same PostgreSQL "
        "($CALLREC_DB also sets it)",
    ),
    "storage.store_root": (
        frozenset({"serve", "storage"}),
        "where finished recordings are kept until uploaded",
    ),
    "storage.upload.type": (
        frozenset({"serve", "storage"}),
        'where recordings go: "sftp" (with host, user, key_file, known_hosts), "local" '
        '(with local_dir) or "none"',
    ),
    "policy_config": (
        frozenset({"serve"}),
        "the recording policy (callrec.toml) this node applies to every call",
    ),
    "state_dir": (
        frozenset({"serve"}),
        "this node's live-call state, kept across restarts (not shared between nodes)",
    ),
    "asterisk.ari_url": (
        frozenset({"serve"}),
        "Asterisk's REST interface, e.g. "
        "http://127.0.0.1:8088/ari (or instance = NAME for a sandbox)",
    ),
    "asterisk.ari_user": (frozenset({"serve"}), "the ARI user of ari.conf"),
    "asterisk.ari_password": (frozenset({"serve"}), "that ARI user's password"),
    "asterisk.ami_user": (frozenset({"serve"}), "the AMI user of manager.conf"),
    "asterisk.ami_secret": (frozenset({"serve"}), "that AMI user's secret"),
    "endpoints.agent": (
        frozenset({"serve"}),
        "the dial string that rings an agent, e.g. PJSIP/{agent} (the default rings the "
        "sandbox's simulated agent)",
    ),
    "endpoints.customer": (
        frozenset({"serve"}),
        "the dial string that calls a customer, e.g. PJSIP/{number}@trunk (the default "
        "rings the sandbox's simulated customer)",
    ),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AsteriskSettings(_Strict):
    # Either a sandbox instance name (ports and credentials read from its
    # state), or explicit connection details for a production Asterisk.
    instance: str | None = None
    ari_url: str | None = None
    ari_user: str | None = None
    ari_password: str | None = None
    app: str = "callrec"
    ami_host: str = "127.0.0.1"
    ami_port: int | None = None
    ami_user: str | None = None
    ami_secret: str | None = None
    # Where Asterisk's recordings and MixMonitor files are, as this host sees them.
    recording_dir: Path | None = None
    monitor_dir: Path | None = None
    # As Asterisk sees the monitor dir (differs from monitor_dir in a chroot).
    asterisk_monitor_dir: str | None = None
    # How `callrec doctor` runs an Asterisk CLI command (the command is appended),
    # e.g. ["sudo", "-n", "asterisk", "-rx"]; default: `asterisk -rx` when installed.
    cli_command: tuple[str, ...] | None = None


class HttpSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    users_file: Path | None = None
    max_body_bytes: int = 64 * 1024
    # Behind HTTPS (directly or through a proxy): the session cookie is sent over HTTPS only.
    secure_cookies: bool = False
    # The key that signs session cookies; the same file on every node lets a session
    # opened on one be used on all. None: a random key per process (sessions end on restart).
    session_secret_file: Path | None = None
    session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    # How the other nodes' users reach this node's API (default: the listening URL).
    public_url: str | None = None

    def session_secret(self) -> bytes | None:
        if self.session_secret_file is None:
            return None
        try:
            secret = self.session_secret_file.read_bytes().strip()
        except OSError as exc:
            raise SettingsError(
                f"[http] session_secret_file: {exc.strerror}: {self.session_secret_file}"
            ) from None
        if len(secret) < 32:
            raise SettingsError("[http] session_secret_file: the key must be at least 32 bytes")
        return secret


class DtmfSettings(_Strict):
    toggle_record: str = "*1"
    toggle_pause: str = "*2"
    timeout_seconds: float = Field(default=2.0, gt=0)

    @field_validator("toggle_record", "toggle_pause")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not value or any(c not in "0123456789*#" for c in value):
            raise ValueError("DTMF sequences use only 0-9, * and #")
        return value


class AriSettings(_Strict):
    # How the Stasis path captures a segment: a snoop channel and an ARI
    # recording per leg, or MixMonitor on the agent's channel started over AMI.
    capture: Literal["snoop", "mixmonitor"] = "mixmonitor"


class ServiceSettings(_Strict):
    policy_config: Path | None = None  # None: embedded defaults
    state_dir: Path = Path("var/callrec/state")
    node_id: str | None = None  # default: host name (+ "-" + sandbox instance)
    asterisk: AsteriskSettings = AsteriskSettings()
    ari: AriSettings = AriSettings()
    endpoints: EndpointSettings = EndpointSettings()
    http: HttpSettings = HttpSettings()
    agi: AgiSettings = AgiSettings()
    dtmf: DtmfSettings = DtmfSettings()
    storage: StorageConfig = StorageConfig()


def settings_path(given: Path | None) -> Path:
    """The node's ``service.toml``: ``--settings``, else ``$CALLREC_SETTINGS``."""
    if given is not None:
        return given
    env = os.environ.get(SETTINGS_ENV)
    if env:
        return Path(env)
    raise SettingsMissing(
        f"no settings file: pass --settings service.toml or set {SETTINGS_ENV} "
        "(docs/OPERATIONS.md); `callrec demo` runs the sandbox demo on embedded defaults"
    )


def _has(data: Mapping[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return node not in (None, "")


def missing_keys(data: Mapping[str, Any], use: Use) -> list[str]:
    """Production keys ``use`` needs that the raw TOML ``data`` leaves out."""
    if _has(data, "asterisk.instance"):
        return []  # a sandbox instance: the embedded defaults are meant for it
    missing = []
    for key, (uses, _why) in REQUIRED.items():
        if use not in uses or _has(data, key):
            continue
        if key == "storage.db_url" and os.environ.get("CALLREC_DB"):
            continue
        missing.append(key)
    return missing


def load_settings(path: Path | None, use: Use = "serve") -> ServiceSettings:
    """Read ``service.toml`` for ``use``; relative paths are relative to the file.

    ``path`` None means the embedded defaults (the demo, and tests that build
    settings in code); a file must then hold every production key ``use`` needs.
    """
    base = Path.cwd()
    data: dict[str, Any] = {}
    if path is not None:
        base = path.resolve().parent
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise SettingsError(f"{path}: file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: {exc}") from None
        missing = missing_keys(data, use)
        if missing:
            raise SettingsMissing(
                "\n".join(f"{path}: {key}: not set: {REQUIRED[key][1]}" for key in missing)
            )
    try:
        settings = ServiceSettings.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{path or '<defaults>'}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors()
        ]
        raise SettingsError("\n".join(lines)) from None

    def fix(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else base / p

    return settings.model_copy(
        update={
            "policy_config": fix(settings.policy_config),
            "state_dir": fix(settings.state_dir),
            "http": settings.http.model_copy(
                update={
                    "users_file": fix(settings.http.users_file),
                    "session_secret_file": fix(settings.http.session_secret_file),
                }
            ),
            "agi": settings.agi.model_copy(update={"secret_file": fix(settings.agi.secret_file)}),
            "storage": settings.storage.resolved(base),
        }
    )


def node_name(settings: ServiceSettings) -> str:
    """This node's id among the site's nodes (unique per node: set it when hosts repeat)."""
    if settings.node_id:
        return settings.node_id
    host = socket.gethostname()
    return f"{host}-{settings.asterisk.instance}" if settings.asterisk.instance else host


def sandbox_instance(settings: ServiceSettings) -> sandbox.Instance | None:
    name = settings.asterisk.instance
    if not name or settings.asterisk.ari_url:
        return None
    inst = sandbox.load_instance(name)
    if inst is None or not inst.alive():
        raise SettingsError(
            f"Asterisk sandbox {name!r} is not running: start it with "
            f"`callrec asterisk up --name {name}` (or set [asterisk] ari_url)"
        )
    return inst
