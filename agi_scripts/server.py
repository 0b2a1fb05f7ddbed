"""The FastAGI server: routes answer, toggle, pause and baseline.

Built on panoramisk's ``fast_agi.Application`` for routing, with a stricter
connection handler: headers are read with a deadline and a closed socket is
noticed (panoramisk's own loop spins forever on EOF), and every request is
bounded by a deadline so the dialplan always gets control back in time; a
request that misses it leaves CALLREC_STATUS unset and the dialplan falls
back as the admin chose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from panoramisk.fast_agi import Application, Request

from agi_scripts.agi import AgiChannel
from agi_scripts.agi_auth import AgiGuard
from agi_scripts.facts import FactsError

log = logging.getLogger("callrec.agi.server")

Route = Callable[[AgiChannel], Awaitable[Any]]
MAX_HEADER_BYTES = 16 * 1024


class AgiServer(Application):  # type: ignore[misc]
    """FastAGI on ``host:port``; failures are logged (timings are bench/agi_bench.py's)."""

    def __init__(
        self, host: str, port: int, *, deadline: float = 3.0, guard: AgiGuard | None = None
    ) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self.host = host
        self.port = port
        self.deadline = deadline
        self.guard = guard
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def route(self, name: str, handler: Route) -> None:
        async def endpoint(request: Request) -> None:
            await handler(AgiChannel(request))

        self.add_route(name, endpoint)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self.handler, self.host, self.port, backlog=512)
        log.info("FastAGI listening on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        guard = self.guard
        if guard is None:
            await self._serve(reader, writer)
            return
        peer = str((writer.get_extra_info("peername") or ("?",))[0])
        refused = guard.open_session(peer)
        if refused is not None:
            log.warning("FastAGI: refused a connection: %s", refused)
            await _close(writer)
            return
        try:
            await asyncio.wait_for(self._serve(reader, writer), guard.max_lifetime)
        except TimeoutError:
            log.warning("FastAGI: session from %s closed after %.0fs", peer, guard.max_lifetime)
            await _close(writer)
        finally:
            guard.close_session()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            headers = await asyncio.wait_for(_read_headers(reader), self.deadline)
        except (TimeoutError, ValueError, ConnectionError) as exc:
            log.warning("FastAGI: bad or slow request: %s", exc)
            await _close(writer)
            return
        if self.guard is not None:
            refused = self.guard.check_request(headers)
            if refused is None:
                refused = await asyncio.wait_for(self.guard.check_channel(headers), self.deadline)
            if refused is not None:
                # The names are the client's claims: repr() keeps them on one line.
                log.warning("FastAGI: refused %r on %r: %s", headers.get("agi_network_script"),
                            headers.get("agi_channel"), refused)  # fmt: skip
                await _close(writer)
                return
        script = headers.get("agi_network_script", "")
        endpoint = self._route.get(script)
        if endpoint is None:
            log.error("FastAGI: no route %r", script)
            await _close(writer)
            return
        request = Request(app=self, headers=headers, reader=reader, writer=writer)
        try:
            await asyncio.wait_for(endpoint(request), self.deadline)
        except FactsError as exc:
            log.error("FastAGI %s on %s: %s", script, headers.get("agi_channel"), exc)
        except TimeoutError:
            log.error("FastAGI %s on %s: no answer within %.1fs",
                      script, headers.get("agi_channel"), self.deadline)  # fmt: skip
        except Exception:
            log.exception("FastAGI %s on %s failed", script, headers.get("agi_channel"))
        await _close(writer)


async def _read_headers(reader: asyncio.StreamReader) -> OrderedDict[str, str]:
    headers: OrderedDict[str, str] = OrderedDict()
    size = 0
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("closed before the AGI headers ended")
        size += len(line)
        if size > MAX_HEADER_BYTES:
            raise ValueError("AGI headers too long")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not text:
            return headers
        key, sep, value = text.partition(": ")
        if sep:
            headers[key] = value


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()
