"""Storage configuration (the ``[storage]`` table of the node's ``service.toml``).

Paths are resolved relative to the directory of the file they came from, so a
config works the same whoever starts the service and from where.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from storage.errors import ConfigInvalid

DEFAULT_DB_URL = "sqlite:///var/callrec/callrec.db"
DEFAULT_STORE_ROOT = Path("var/callrec/store")
DEFAULT_LOCAL_UPLOAD_DIR = Path("var/callrec/platform")

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UploadTargetConfig(_Strict):
    """Where finished files go. ``local`` is a plain directory (demo, NFS)."""

    type: Literal["sftp", "local", "none"] = "local"
    host: str | None = None
    port: int = Field(default=22, ge=1, le=65535)
    user: str | None = None
    key_file: Path | None = None
    known_hosts: Path | None = None
    remote_dir: str = "."
    local_dir: Path = DEFAULT_LOCAL_UPLOAD_DIR
    # Read the file back after rename and compare SHA-256 (costs a download).
    verify_hash: bool = False
    # None: the largest write the server announces (OpenSSH drops the connection
    # when a request exceeds its 256 KiB message limit, so never guess above it).
    block_size: int | None = Field(default=None, ge=4096, le=4 * 1024 * 1024)
    max_requests: int | None = Field(default=None, ge=1, le=1024)
    connect_timeout: float = Field(default=15.0, gt=0)

    def model_post_init(self, __context: Any) -> None:
        if self.type == "sftp":
            missing = [
                k for k in ("host", "user", "key_file", "known_hosts") if getattr(self, k) is None
            ]
            if missing:
                raise ValueError(f"upload type 'sftp' needs {', '.join(missing)}")


class RetentionRule(_Strict):
    """Delete recordings of a campaign after ``days``.

    Reaches assigned recordings only when ``include_assigned`` is set (a legal
    maximum); holds always win.
    """

    campaign: str = Field(description="campaign name, or '*' for every campaign")
    days: int = Field(ge=1)
    include_assigned: bool = False


class OutboxConfig(_Strict):
    lease_seconds: float = Field(default=600.0, gt=0)
    backoff_base_seconds: float = Field(default=5.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    batch_size: int = Field(default=16, ge=1)
    # Concurrent uploads of one node (`callrec serve`) and `outbox drain`'s default.
    workers: int = Field(default=4, ge=1, le=64)


class CrmTableMapping(_Strict):
    """Read CRM records from a table that already exists in some database."""

    url: str | None = None  # None: the callrec database itself
    table: str
    kind: Literal["individual", "agent", "sales"]
    id_column: str
    name_column: str | None = None
    # field name (business/home/cell, or phone/cell for sales) -> column name
    phones: dict[str, str]


WEBHOOK_EVENTS = ("recording.stored", "recording.verified", "recording.assigned",
                  "recording.deleted")  # fmt: skip


class WebhooksConfig(_Strict):
    """``[storage.webhooks]``: where this node announces recording events (docs/STORAGE.md).

    The secret signs every delivery (HMAC-SHA256); give it inline or, better,
    in a file only the service can read (``secret_file``).
    """

    urls: tuple[str, ...] = ()
    secret: SecretStr | None = None
    secret_file: Path | None = None
    events: tuple[str, ...] = WEBHOOK_EVENTS
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    @field_validator("urls")
    @classmethod
    def _urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s#]*)?", url) or len(url) > 2000:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(WEBHOOK_EVENTS))
        if unknown:
            raise ValueError(f"unknown event(s) {unknown}; use {list(WEBHOOK_EVENTS)}")
        return value

    def model_post_init(self, __context: Any) -> None:
        if self.urls and self.secret is None and self.secret_file is None:
            raise ValueError("webhook urls need a secret or secret_file to sign with")
        if self.secret is not None and len(self.secret.get_secret_value()) < 16:
            raise ValueError("the webhook secret must be at least 16 characters")

    def secret_bytes(self) -> bytes:
        """The signing key (read from ``secret_file`` each time, so rotation needs no restart)."""
        if self.secret is not None:
            return self.secret.get_secret_value().encode()
        if self.secret_file is None:
            raise ConfigInvalid("webhooks: no secret configured")
        try:
            if self.secret_file.stat().st_mode & 0o004:
                raise ConfigInvalid(
                    f"webhooks.secret_file: {self.secret_file} is world-readable; chmod o-r it"
                )
            key = self.secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigInvalid(f"webhooks.secret_file: {exc.strerror}") from None
        if len(key) < 16:
            raise ConfigInvalid("webhooks.secret_file: the secret must be at least 16 characters")
        return key.encode()

class EncryptionConfig(_Strict):
    """Encryption at rest (storage/crypto.py); off while ``recipients`` is empty."""

    recipients: tuple[str, ...] = ()  # age X25519 public keys (age1...) of the admins
    identity_file: Path | None = None  # private key(s): only on nodes that play recordings

    @field_validator("recipients")
    @classmethod
    def _keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from storage.crypto import recipients

        recipients(value)
        return value


class StorageConfig(_Strict):
    db_url: str = Field(default_factory=lambda: os.environ.get("CALLREC_DB", DEFAULT_DB_URL))
    store_root: Path = DEFAULT_STORE_ROOT
    transcode: Literal["wav", "flac", "opus", "mp3"] = "wav"
    opus_bitrate: str = "16k"
    mp3_bitrate: str = "32k"
    default_region: str = "US"
    upload: UploadTargetConfig = UploadTargetConfig()
    outbox: OutboxConfig = OutboxConfig()
    retention: tuple[RetentionRule, ...] = ()
    rematch_at: str = "02:30"
    retention_at: str = "03:30"
    crm_table: CrmTableMapping | None = None
    # [storage.webhooks] in the node's settings file (each node its own receivers).
    webhooks: WebhooksConfig = WebhooksConfig()
    encryption: EncryptionConfig = EncryptionConfig()

    @field_validator("rematch_at", "retention_at")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be HH:MM (24 h, local time of the node)")
        return value

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{2}", value):
            raise ValueError("must be an ISO-3166 alpha-2 code such as 'US'")
        return value

    def resolved(self, base: Path) -> StorageConfig:
        """Return a copy whose relative paths are anchored at ``base``."""

        def fix(p: Path | None) -> Path | None:
            if p is None or p.is_absolute():
                return p
            return base / p

        upload = self.upload.model_copy(
            update={
                "key_file": fix(self.upload.key_file),
                "known_hosts": fix(self.upload.known_hosts),
                "local_dir": fix(self.upload.local_dir),
            }
        )
        db_url = self.db_url
        prefix = "sqlite:///"
        if db_url.startswith(prefix) and not db_url.startswith(prefix + "/"):
            rel = db_url[len(prefix) :]
            if rel and rel != ":memory:":
                db_url = prefix + str(base / rel)
        hooks = self.webhooks.model_copy(update={"secret_file": fix(self.webhooks.secret_file)})
        encryption = self.encryption.model_copy(
            update={"identity_file": fix(self.encryption.identity_file)}
        )
        return self.model_copy(
            update={
                "store_root": fix(self.store_root),
                "upload": upload,
                "db_url": db_url,
                "webhooks": hooks,
                "encryption": encryption,
            }
        )


def load_storage_config(path: Path | None) -> StorageConfig:
    """Read the ``[storage]`` table of a TOML file (missing file or table: defaults)."""
    if path is None:
        return StorageConfig().resolved(Path.cwd())
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigInvalid(f"{path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(f"{path}: {exc}") from exc
    section = data.get("storage", {})
    try:
        cfg = StorageConfig.model_validate(section)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = "storage." + ".".join(str(p) for p in first["loc"])
        raise ConfigInvalid(f"{path}: {key}: {first['msg']}") from exc
    return cfg.resolved(path.parent.resolve())
