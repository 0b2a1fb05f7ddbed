"""Service settings: how this callrec node is wired (``service.toml``).

Kept apart from the recording policy (``callrec.toml``, admin-edited and hot
reloaded): these say which Asterisk to talk to, where to listen and where
files go, and change only with a restart. Every key has an embedded default,
so ``callrec serve`` runs with no file at all against the local sandbox.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callrec import sandbox
from storage.config import StorageConfig


class SettingsError(ValueError):
    code = "settings.invalid"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AsteriskSettings(_Strict):
    # Either a sandbox instance name (ports and credentials read from its
    # state), or explicit connection details for a production Asterisk.
    instance: str | None = "default"
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


class EndpointSettings(_Strict):
    """Dial strings. ``{agent}`` and ``{number}`` are filled from validated ids only."""

    agent: str = "Local/agent@callrec-sim/n"
    customer: str = "Local/customer@callrec-sim/n"
    agents: dict[str, str] = Field(default_factory=dict)  # per-agent override


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


class AgiSettings(_Strict):
    host: str = "127.0.0.1"
    port: int | None = None  # default: the sandbox instance's AGI port, else 4573
    fallback: Literal["agent", "none"] = "agent"
    # The dialplan's FastAGI secret (CALLREC_AGI_SECRET); a sandbox instance brings its own.
    secret_file: Path | None = None
    allow_peers: list[str] = Field(default_factory=list)  # empty: any peer that knows the secret
    max_sessions: int = Field(default=128, ge=1)
    max_session_seconds: float = Field(default=10.0, gt=0)
    verify_channels: bool = True  # ask Asterisk (AMI) that the named channel is live

    def secret(self) -> str | None:
        """The secret from ``secret_file`` (first line), or None when none is set."""
        if self.secret_file is None:
            return None
        try:
            return self.secret_file.read_text().strip() or None
        except OSError as exc:
            raise SettingsError(f"[agi] secret_file: {exc.strerror}: {self.secret_file}") from None


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


class ServiceSettings(_Strict):
    policy_config: Path | None = None  # None: embedded defaults
    state_dir: Path = Path("var/callrec/state")
    node_id: str | None = None  # default: host name + instance
    asterisk: AsteriskSettings = AsteriskSettings()
    endpoints: EndpointSettings = EndpointSettings()
    http: HttpSettings = HttpSettings()
    agi: AgiSettings = AgiSettings()
    dtmf: DtmfSettings = DtmfSettings()
    storage: StorageConfig = StorageConfig()


def load_settings(path: Path | None) -> ServiceSettings:
    """Read ``service.toml``; relative paths are relative to the file (or cwd)."""
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
