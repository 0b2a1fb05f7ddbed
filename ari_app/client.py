"""A small typed ARI client on aiohttp: REST calls and the events websocket.

ari-py does not import on Python 3, so this covers exactly what callrec uses,
following Asterisk's own API description (``rest-api/*.json`` in its data
dir). Every non-2xx answer becomes an :class:`AriError` subclass carrying the
HTTP status and Asterisk's message, so callers can tell "gone" (404) from
"not now" (409/422) without parsing text.

Credentials travel only in the Authorization header and never in a URL, so
they cannot leak into logs of URLs.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import logging
import random
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal
from urllib.parse import quote

import aiohttp

log = logging.getLogger("callrec.ari")

Json = dict[str, Any]
SpyDirection = Literal["none", "both", "out", "in"]
IfExists = Literal["fail", "overwrite", "append"]


class AriError(Exception):
    """Asterisk refused a request."""

    def __init__(self, status: int, message: str, method: str, path: str) -> None:
        super().__init__(f"ARI {method} {path} -> {status}: {message}")
        self.status = status
        self.message = message
        self.method = method
        self.path = path


class AriBadRequest(AriError):
    """400: a parameter is missing or malformed."""


class AriNotFound(AriError):
    """404: the channel, bridge or recording no longer exists."""


class AriConflict(AriError):
    """409: the object is not in a state that allows this (e.g. not in Stasis)."""


class AriUnprocessable(AriError):
    """422: a referenced object (e.g. a channel to add) is unusable."""


class AriUnavailable(Exception):
    """Asterisk could not be reached at all."""


_ERRORS: dict[int, type[AriError]] = {
    400: AriBadRequest,
    404: AriNotFound,
    409: AriConflict,
    422: AriUnprocessable,
}

CONNECTED_EVENT = "CallrecConnected"
"""Synthetic event yielded after every (re)connect: time to reconcile."""
DISCONNECTED_EVENT = "CallrecDisconnected"
"""Synthetic event yielded when the websocket is lost: not connected until reconciled."""


def _q(value: str) -> str:
    return quote(value, safe="")


def _params(**kwargs: Any) -> dict[str, str]:
    """Drop unset values; ARI wants booleans as 'true'/'false'."""
    out: dict[str, str] = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out


# At most this many REST connections to Asterisk at once; more requests wait
# for one. aiohttp's pool reuses its connections in turn (first in, first out),
# so under steady traffic none idles out: every connection a stall of Asterisk
# made the pool open (up to aiohttp's default of 100, Asterisk's own HTTP
# session limit) stayed open, and the soak saw serve's descriptors climb.
MAX_CONNECTIONS = 16


class AriClient:
    """One ARI user and Stasis application on one Asterisk."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        request_timeout: float = 10.0,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_connections = max_connections
        self.app = app
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def __aenter__(self) -> AriClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self.max_connections),
            )
        return self._session

    async def close(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()

    # ----------------------------------------------------------------- core

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: Json | None = None,
    ) -> Any:
        """Call ARI; return the decoded JSON (None for 204)."""
        url = f"{self.base_url}{path}"
        try:
            return await self._request_once(method, url, path, params, body)
        except aiohttp.ClientOSError as exc:
            # ECONNABORTED: a pooled keep-alive connection this host aborted while it
            # sat idle (a fault cut it); the request could not go out on it. Once
            # more, on a fresh connection; any other error is the caller's.
            if exc.errno != errno.ECONNABORTED:
                raise AriUnavailable(f"ARI {method} {path}: {exc!r}") from exc
            log.warning("ARI %s %s: pooled connection aborted; retrying once", method, path)
        try:
            return await self._request_once(method, url, path, params, body)
        except aiohttp.ClientOSError as exc:
            raise AriUnavailable(f"ARI {method} {path}: {exc!r}") from exc

    async def _request_once(
        self,
        method: str,
        url: str,
        path: str,
        params: Mapping[str, str] | None,
        body: Json | None,
    ) -> Any:
        try:
            async with self._http().request(method, url, params=params, json=body) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    message = raw.decode(errors="replace")
                    try:
                        message = str(json.loads(message).get("message", message))
                    except (ValueError, AttributeError):
                        pass
                    cls = _ERRORS.get(resp.status, AriError)
                    raise cls(resp.status, message, method, path)
                if resp.status == 204 or not raw:
                    return None
                if resp.content_type == "application/json":
                    return json.loads(raw)
                return raw
        except aiohttp.ClientOSError:
            raise  # (request: retried once when the pooled connection was aborted)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise AriUnavailable(f"ARI {method} {path}: {exc!r}") from exc

    # ------------------------------------------------------------- channels

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | None = None,
        extension: str | None = None,
        context: str | None = None,
        priority: int | None = None,
        caller_id: str | None = None,
        timeout: int | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        formats: str | None = None,
    ) -> Json:
        body: Json | None = {"variables": dict(variables)} if variables else None
        params = _params(
            endpoint=endpoint,
            app=app if app is not None else (None if extension else self.app),
            appArgs=app_args,
            extension=extension,
            context=context,
            priority=priority,
            callerId=caller_id,
            timeout=timeout,
            channelId=channel_id,
            otherChannelId=other_channel_id,
            formats=formats,
        )
        result: Json = await self.request("POST", "/channels", params, body)
        return result

    async def list_channels(self) -> list[Json]:
        result: list[Json] = await self.request("GET", "/channels")
        return result

    async def get_channel(self, channel_id: str) -> Json:
        result: Json = await self.request("GET", f"/channels/{_q(channel_id)}")
        return result

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/answer")

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/ring")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{_q(channel_id)}", _params(reason=reason))

    async def continue_in_dialplan(
        self, channel_id: str, context: str | None = None, extension: str | None = None
    ) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/continue",
            _params(context=context, extension=extension),
        )

    async def snoop(
        self,
        channel_id: str,
        *,
        spy: SpyDirection = "in",
        whisper: SpyDirection = "none",
        app: str | None = None,
        app_args: str | None = None,
        snoop_id: str | None = None,
    ) -> Json:
        params = _params(
            spy=spy, whisper=whisper, app=app or self.app, appArgs=app_args, snoopId=snoop_id
        )
        result: Json = await self.request("POST", f"/channels/{_q(channel_id)}/snoop", params)
        return result

    async def play(
        self, channel_id: str, media: str | list[str], playback_id: str | None = None
    ) -> Json:
        media_list = [media] if isinstance(media, str) else media
        params = _params(media=media_list, playbackId=playback_id)
        result: Json = await self.request("POST", f"/channels/{_q(channel_id)}/play", params)
        return result

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{_q(playback_id)}")

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        fmt: str = "wav",
        if_exists: IfExists = "fail",
        max_duration: int | None = None,
        beep: bool = False,
        terminate_on: str = "none",
    ) -> Json:
        params = _params(
            name=name,
            format=fmt,
            ifExists=if_exists,
            maxDurationSeconds=max_duration,
            beep=beep,
            terminateOn=terminate_on,
        )
        result: Json = await self.request("POST", f"/channels/{_q(channel_id)}/record", params)
        return result

    async def get_variable(self, channel_id: str, variable: str) -> str | None:
        try:
            result: Json = await self.request(
                "GET", f"/channels/{_q(channel_id)}/variable", _params(variable=variable)
            )
        except AriNotFound:
            return None
        value = result.get("value")
        return None if value is None else str(value)

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/variable",
            _params(variable=variable, value=value),
        )

    async def send_dtmf(self, channel_id: str, dtmf: str, duration_ms: int = 100) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/dtmf",
            _params(dtmf=dtmf, duration=duration_ms),
        )

    # -------------------------------------------------------------- bridges

    async def create_bridge(
        self, bridge_type: str = "mixing", bridge_id: str | None = None, name: str | None = None
    ) -> Json:
        params = _params(type=bridge_type, bridgeId=bridge_id, name=name)
        result: Json = await self.request("POST", "/bridges", params)
        return result

    async def list_bridges(self) -> list[Json]:
        result: list[Json] = await self.request("GET", "/bridges")
        return result

    async def get_bridge(self, bridge_id: str) -> Json:
        result: Json = await self.request("GET", f"/bridges/{_q(bridge_id)}")
        return result

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_q(bridge_id)}")

    async def add_channel(self, bridge_id: str, channel_ids: str | list[str]) -> None:
        ids = [channel_ids] if isinstance(channel_ids, str) else channel_ids
        await self.request("POST", f"/bridges/{_q(bridge_id)}/addChannel", _params(channel=ids))

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request(
            "POST", f"/bridges/{_q(bridge_id)}/removeChannel", _params(channel=channel_id)
        )

    async def play_bridge(self, bridge_id: str, media: str, playback_id: str | None = None) -> Json:
        params = _params(media=media, playbackId=playback_id)
        result: Json = await self.request("POST", f"/bridges/{_q(bridge_id)}/play", params)
        return result

    async def record_bridge(
        self, bridge_id: str, name: str, *, fmt: str = "wav", if_exists: IfExists = "fail"
    ) -> Json:
        params = _params(name=name, format=fmt, ifExists=if_exists)
        result: Json = await self.request("POST", f"/bridges/{_q(bridge_id)}/record", params)
        return result

    # ----------------------------------------------------------- recordings

    async def live_recording(self, name: str) -> Json:
        result: Json = await self.request("GET", f"/recordings/live/{_q(name)}")
        return result

    async def stop_recording(self, name: str) -> None:
        """Stop and keep the file (DELETE would discard it)."""
        await self.request("POST", f"/recordings/live/{_q(name)}/stop")

    async def cancel_recording(self, name: str) -> None:
        """Stop and discard the file."""
        await self.request("DELETE", f"/recordings/live/{_q(name)}")

    async def pause_recording(self, name: str) -> None:
        """Stops writing: the file loses the call's timeline. Prefer mute."""
        await self.request("POST", f"/recordings/live/{_q(name)}/pause")

    async def unpause_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/live/{_q(name)}/pause")

    async def mute_recording(self, name: str) -> None:
        """Write silence: callrec's *pause* (keeps the timeline)."""
        await self.request("POST", f"/recordings/live/{_q(name)}/mute")

    async def unmute_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/live/{_q(name)}/mute")

    async def list_stored(self) -> list[Json]:
        result: list[Json] = await self.request("GET", "/recordings/stored")
        return result

    async def stored_file(self, name: str) -> bytes:
        result: bytes = await self.request("GET", f"/recordings/stored/{_q(name)}/file")
        return result

    async def delete_stored(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{_q(name)}")

    # --------------------------------------------------------- application

    async def asterisk_info(self) -> Json:
        result: Json = await self.request("GET", "/asterisk/info")
        return result

    async def set_event_filter(self, allowed: list[str]) -> None:
        """Receive only these event types (Asterisk 21+): less load on both sides."""
        body = {"allowed": [{"type": name} for name in allowed], "disallowed": []}
        await self.request("PUT", f"/applications/{_q(self.app)}/eventFilter", body=body)

    # --------------------------------------------------------------- events

    async def events(
        self,
        *,
        min_backoff: float = 0.2,
        max_backoff: float = 5.0,
        stop: asyncio.Event | None = None,
    ) -> AsyncIterator[Json]:
        """Yield events forever, reconnecting with backoff.

        After each (re)connect a ``{"type": "CallrecConnected"}`` event is
        yielded first: Asterisk does not replay what happened while the socket
        was down, so the consumer must reconcile from REST state then.
        """
        backoff, up = min_backoff, False
        ws_url = self.base_url.replace("http", "ws", 1) + "/events"
        params = _params(app=self.app, subscribeAll=False)
        while not self._closed and not (stop and stop.is_set()):
            try:
                async with self._http().ws_connect(
                    ws_url,
                    params=params,
                    heartbeat=15.0,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                ) as ws:
                    backoff, up = min_backoff, True
                    log.info("ARI events connected (app %s)", self.app)
                    yield {"type": CONNECTED_EVENT, "application": self.app}
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            yield json.loads(msg.data)
                        elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                            break
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("ARI events unavailable (%s); retrying in %.1fs", exc, backoff)
            if up:  # it was connected: events from now on are lost until reconciled
                up = False
                yield {"type": DISCONNECTED_EVENT, "application": self.app}
            if self._closed or (stop and stop.is_set()):
                return
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(max_backoff, backoff * 2)
