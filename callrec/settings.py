"""Service settings: how this callrec node is wired (``service.toml``).

Kept apart from the recording policy (``callrec.toml``, admin-edited and hot
reloaded): these say which Asterisk to talk to, where to listen and where
files go, and change only with a restart. Every key has an embedded default,
so ``callrec serve`` runs with no file at all against the local sandbox.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callcore.call_settings import AgiSettings as AgiSettings
from callcore.call_settings import EndpointSettings as EndpointSettings
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


class HttpSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    users_file: Path | None = None
    max_body_bytes: int = 64 * 1024


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
            "http": settings.http.model_copy(update={"users_file": fix(settings.http.users_file)}),
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
