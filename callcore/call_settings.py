"""The settings both call paths read: dial-string templates and the FastAGI listener.

Dial strings are filled by ``callcore.ids.endpoint`` (ids checked first).

They live here, not in ``callrec.settings``, so ``agi_scripts`` and ``ari_app``
need nothing from the composing package (which imports the sandbox and
everything else). ``callrec.settings`` nests these models in ``service.toml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EndpointSettings(_Strict):
    """Dial strings. ``{agent}`` and ``{number}`` are filled from validated ids only."""

    agent: str = "Local/agent@callrec-sim/n"
    customer: str = "Local/customer@callrec-sim/n"
    agents: dict[str, str] = Field(default_factory=dict)  # per-agent override
    # Codecs asked of the parties callrec originates ("slin" for the simulated
    # Local parties, whose tones are slin: no transcoding); empty lets Asterisk
    # choose, as real phones need.
    formats: str = Field(default="", pattern=r"^([a-z0-9_]+(,[a-z0-9_]+)*)?$", max_length=200)


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
        """The secret from ``secret_file`` (first line), or None when none is set.

        An unreadable file is a ``ValueError`` naming the key (``SettingsError``
        in ``callrec.settings`` derives from it).
        """
        if self.secret_file is None:
            return None
        try:
            return self.secret_file.read_text().strip() or None
        except OSError as exc:
            raise ValueError(f"[agi] secret_file: {exc.strerror}: {self.secret_file}") from None


class CallPathSettings(Protocol):
    """What a call path needs of the node's settings (``ServiceSettings`` has it)."""

    @property
    def agi(self) -> AgiSettings: ...

    @property
    def endpoints(self) -> EndpointSettings: ...
