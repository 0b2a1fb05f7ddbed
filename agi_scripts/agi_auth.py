"""Who may talk to the FastAGI server: a per-install secret, peers, caps.

FastAGI is plain TCP with no authentication of its own, and any process on
the host can connect to it. The dialplan therefore presents a secret
generated at install time as the AGI's first argument
(``AGI(${CALLREC_AGI}/answer,${GLOBAL(CALLREC_AGI_SECRET)})``, header
``agi_arg_1``); a request without the right one is refused before any route
runs, so it can change no call. The comparison is constant-time so the
secret cannot be guessed byte by byte from response times. Sessions are
capped in number and in lifetime, so a flood of idle connections cannot
starve the real dialplan or hold memory.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

log = logging.getLogger("callrec.agi.auth")

SECRET_HEADER = "agi_arg_1"
MIN_SECRET_LENGTH = 16


class AgiAuthError(ValueError):
    """A FastAGI guard that cannot protect anything (e.g. an empty secret)."""

    code = "agi.secret_invalid"


@dataclass
class AgiGuard:
    """Admission of FastAGI sessions. ``peers`` empty: any peer address."""

    secret: str
    peers: frozenset[str] = frozenset()
    max_sessions: int = 128
    max_lifetime: float = 10.0
    active: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    # Asks Asterisk about the channel a request names (None: not checked).
    channel_check: Callable[[Mapping[str, str]], Awaitable[str | None]] | None = None

    def __post_init__(self) -> None:
        if len(self.secret) < MIN_SECRET_LENGTH:
            raise AgiAuthError(
                f"the FastAGI secret must be at least {MIN_SECRET_LENGTH} characters"
            )
        self._networks = [ipaddress.ip_network(p, strict=False) for p in self.peers]

    @classmethod
    def build(
        cls,
        secret: str | None,
        peers: Iterable[str] = (),
        *,
        max_sessions: int = 128,
        max_lifetime: float = 10.0,
    ) -> AgiGuard:
        if not secret:
            raise AgiAuthError(
                "no FastAGI secret: set [agi] secret_file (the dialplan passes the same "
                "value as CALLREC_AGI_SECRET), or run against a sandbox instance"
            )
        return cls(secret, frozenset(peers), max_sessions, max_lifetime)

    def peer_allowed(self, peer: str) -> bool:
        if not self._networks:
            return True
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in net for net in self._networks)

    def open_session(self, peer: str) -> str | None:
        """Admit a new connection, or say why not (the caller then closes it)."""
        if not self.peer_allowed(peer):
            return self._refuse("peer", f"peer {peer} is not in [agi] allow_peers")
        if self.active >= self.max_sessions:
            return self._refuse("busy", f"{self.active} sessions open (cap {self.max_sessions})")
        self.active += 1
        return None

    def close_session(self) -> None:
        self.active = max(0, self.active - 1)

    def check_request(self, headers: Mapping[str, str]) -> str | None:
        """None when the request carries the install's secret, else the reason."""
        presented = headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(presented.encode(), self.secret.encode()):
            what = "no secret" if not presented else "a wrong secret"
            return self._refuse("secret", f"{what} presented")
        return None

    async def check_channel(self, headers: Mapping[str, str]) -> str | None:
        """None when Asterisk has the channel the request names, with that unique id."""
        if self.channel_check is None:
            return None
        reason = await self.channel_check(headers)
        return None if reason is None else self._refuse("channel", reason)

    def _refuse(self, kind: str, reason: str) -> str:
        self.refused[kind] = self.refused.get(kind, 0) + 1
        return reason


def ami_channel_check(
    getvar: Callable[[str, str], Awaitable[str]],
) -> Callable[[Mapping[str, str]], Awaitable[str | None]]:
    """A ``channel_check`` through AMI: the channel must exist and carry the unique id.

    With the secret, a request can only come from the dialplan; this also
    catches one whose headers do not describe a live channel (a replayed or
    forged session), before any call state is touched.
    """

    async def check(headers: Mapping[str, str]) -> str | None:
        name, uid = headers.get("agi_channel", ""), headers.get("agi_uniqueid", "")
        if not name or not uid:
            return "no channel or unique id in the request"
        try:
            actual = await getvar(name, "UNIQUEID")
        except Exception as exc:  # AMI error or timeout: not proven, so refused
            return f"Asterisk does not confirm the channel ({type(exc).__name__})"
        if not hmac.compare_digest(actual.encode(), uid.encode()):
            return "the channel's unique id is not the one claimed"
        return None

    return check
