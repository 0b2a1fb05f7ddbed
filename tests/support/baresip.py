"""Debian's baresip (1.0.0) as an agent's real softphone in tests.

The phone runs as its own process with a config dir under the test's
tmp_path, on 127.0.0.1 only, with no sound devices: its microphone is a WAV
of one tone (module ``aufile``) and it plays nothing. The test drives it over
its ``ctrl_tcp`` module (netstring-framed JSON commands and events), the same
commands a person types at its menu: ``dial``, ``sndcode`` (RFC 4733 DTMF),
``callfind`` (pick the current call), ``transfer`` (REFER), ``hangup``.

baresip 1.0.0 has no attended-transfer command (``/atransferstart`` came
later). Its ``transfer`` sends ``Refer-To`` with the URI it is given, so an
attended transfer is that REFER with the consultation dialog in a
``Replaces`` header of the target URI (RFC 3891, RFC 5589 7.1), the way
phones of that era did it. The dialog's tags are read from baresip's own SIP
trace (``-s``): what the phone itself sent and received.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import shutil
import socket
import struct
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tone_wav(path: Path, hz: float, seconds: float) -> Path:
    """8 kHz mono S16LE, what baresip's ``aufile`` source plays without resampling."""
    n = int(8000 * seconds)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / 8000)))
                for i in range(n)
            )
        )
    return path


@dataclass
class BaresipCall:
    """One of the phone's calls, as its events report it (``id`` is the SIP Call-ID)."""

    id: str
    direction: str
    peer: str
    established: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_reason: str = ""


class BaresipError(RuntimeError):
    pass


class Baresip:
    """One baresip process: user ``user`` on 127.0.0.1, sending a ``tone_hz`` tone."""

    def __init__(self, user: str, home: Path, tone_hz: float, seconds: float = 120.0) -> None:
        self.user, self.home, self.tone_hz, self.seconds = user, home, tone_hz, seconds
        self.sip_port = free_port()
        self.ctrl_port = free_port()
        self.log = home / "baresip.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.calls: dict[str, BaresipCall] = {}
        self.incoming: asyncio.Queue[BaresipCall] = asyncio.Queue()
        self.events: list[dict[str, Any]] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._tokens = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._dialled: asyncio.Queue[BaresipCall] = asyncio.Queue()
        self._closed: BaresipError | None = None

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@127.0.0.1:{self.sip_port}"

    def _write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        wav = tone_wav(self.home / f"tone{int(self.tone_hz)}.wav", self.tone_hz, self.seconds)
        rtp = free_port() // 2 * 2
        lines = {
            "poll_method": "epoll",
            "sip_listen": f"127.0.0.1:{self.sip_port}",
            "net_interface": "127.0.0.1",  # baresip 1.0 finds no address on "lo" here
            "dns_server": "127.0.0.1:53",  # never a resolver off this machine
            "audio_source": f"aufile,{wav}",
            "audio_player": "none",
            "audio_alert": "none",
            "ausrc_srate": "8000",
            "ausrc_channels": "1",
            "rtp_ports": f"{rtp}-{rtp + 40}",
            "module_path": "/usr/lib/baresip/modules",
            "statmode_default": "off",
            "ctrl_tcp_listen": f"127.0.0.1:{self.ctrl_port}",
        }
        text = "".join(f"{k}\t{v}\n" for k, v in lines.items())
        text += "module\tg711.so\nmodule\taufile.so\n"
        text += "module_app\taccount.so\nmodule_app\tmenu.so\nmodule_app\tctrl_tcp.so\n"
        (self.home / "config").write_text(text)
        # No registration: Asterisk dials the phone's address; it answers by itself.
        (self.home / "accounts").write_text(
            f"<sip:{self.user}@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMU\n"
        )

    async def start(self, timeout: float = 15.0) -> None:
        exe = shutil.which("baresip")
        assert exe, "baresip (Debian package baresip-core) is required: scripts/setup installs it"
        self._write_config()
        with self.log.open("wb") as out:
            self.proc = await asyncio.create_subprocess_exec(
                exe, "-f", str(self.home), "-s", "-v",
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        try:
            await self._connect(timeout)
        except BaseException:
            await self.close()  # never leave the process behind a failed start
            raise
        self._task = asyncio.ensure_future(self._read())

    async def _connect(self, timeout: float) -> None:
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.proc.returncode is not None:
                raise BaresipError(f"baresip exited {self.proc.returncode}:\n{self.trace()}")
            try:
                self._reader, self._writer = await asyncio.open_connection(
                    "127.0.0.1", self.ctrl_port
                )
                return
            except OSError:
                if loop.time() > deadline:
                    raise BaresipError(
                        f"baresip's ctrl_tcp never listened:\n{self.trace()}"
                    ) from None
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.command("quit"), 3)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._writer is not None:
            self._writer.close()
        if self.proc is not None and self.proc.returncode is None:
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def trace(self) -> str:
        """baresip's own log (with the SIP trace), colour codes removed."""
        if not self.log.exists():
            return ""
        return ANSI.sub("", self.log.read_text(errors="replace")).replace("\r", "")

    # ------------------------------------------------------------ ctrl_tcp

    async def _read(self) -> None:
        assert self._reader is not None
        while True:
            try:
                length = await self._reader.readuntil(b":")
                data = await self._reader.readexactly(int(length[:-1]) + 1)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                gone = BaresipError(f"baresip's ctrl_tcp connection closed ({exc!r})")
                for waiting in self._replies.values():
                    if not waiting.done():
                        waiting.set_exception(gone)
                self._replies.clear()
                self._closed = gone
                return
            msg = json.loads(data[:-1])
            if msg.get("response"):
                fut = self._replies.pop(str(msg.get("token")), None)
                if fut and not fut.done():
                    fut.set_result(msg)
            elif msg.get("event"):
                self.events.append(msg)
                self._event(msg)

    def _event(self, msg: dict[str, Any]) -> None:
        call_id = msg.get("id")
        if msg.get("class") != "call" or not call_id:
            return
        kind = msg["type"]
        call = self.calls.get(call_id)
        if call is None:
            call = BaresipCall(call_id, msg.get("direction", ""), msg.get("peeruri", ""))
            self.calls[call_id] = call
            if call.direction == "incoming":
                self.incoming.put_nowait(call)
            else:
                self._dialled.put_nowait(call)
        if kind == "CALL_ESTABLISHED":
            call.established.set()
        elif kind == "CALL_CLOSED":
            call.close_reason = str(msg.get("param", ""))
            call.closed.set()

    async def command(self, command: str, params: str = "") -> str:
        """Run one of baresip's commands; its text answer, or BaresipError."""
        assert self._writer is not None, "start() first"
        if self._closed is not None:
            raise self._closed
        token = str(next(self._tokens))
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[token] = fut
        body = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        reply = await asyncio.wait_for(fut, 10)
        if not reply.get("ok"):
            raise BaresipError(f"{command} {params!r}: {reply.get('data')}")
        return str(reply.get("data", ""))

    # ------------------------------------------------------------- actions

    async def answered(self, timeout: float = 15.0) -> BaresipCall:
        """The next incoming call, once the phone answered it (answermode=auto)."""
        call = await asyncio.wait_for(self.incoming.get(), timeout)
        await asyncio.wait_for(call.established.wait(), timeout)
        return call

    async def dial(self, uri: str, timeout: float = 15.0) -> BaresipCall:
        """Place a call (e.g. the consultation) and wait until it is answered."""
        await self.command("dial", uri)
        call = await asyncio.wait_for(self._dialled.get(), timeout)
        await asyncio.wait_for(call.established.wait(), timeout)
        return call

    async def select(self, call: BaresipCall) -> None:
        """Make ``call`` the one the next command acts on."""
        await self.command("callfind", call.id)

    async def send_dtmf(self, call: BaresipCall, digits: str, gap: float = 0.3) -> None:
        """Press keys in a call: RFC 4733 telephone-events, one key at a time."""
        await self.select(call)
        for digit in digits:
            await self.command("sndcode", digit)
            await asyncio.sleep(gap)

    def dialog_tags(self, call: BaresipCall) -> tuple[str, str]:
        """(local tag, remote tag) of one of the phone's calls, from its SIP trace."""
        local = remote = ""
        for message in self.trace().split("\n#\n"):
            if not re.search(rf"^Call-ID: {re.escape(call.id)}$", message, re.M):
                continue
            head = re.search(r"^UDP 127\.0\.0\.1:(\d+) -> \S+\n(\S+)", message, re.M)
            if not head:
                continue
            sent = int(head.group(1)) == self.sip_port
            # From names who asked: the sender of a request, the receiver of a response.
            asked = sent if head.group(2) != "SIP/2.0" else not sent
            for name, tag in re.findall(r"^(From|To): .*;tag=([^;\s]+)", message, re.M):
                if (name == "From") == asked:
                    local = local or tag
                else:
                    remote = remote or tag
        assert local and remote, f"no dialog tags for {call.id} in baresip's trace"
        return local, remote

    async def attended_transfer(
        self, first: BaresipCall, consult: BaresipCall, target: str
    ) -> None:
        """REFER ``first``'s peer to ``target`` replacing the ``consult`` dialog.

        baresip hangs up ``first`` itself once the server's NOTIFY reports success.
        """
        local, remote = self.dialog_tags(consult)
        replaces = quote(f"{consult.id};to-tag={remote};from-tag={local}", safe="")
        await self.select(first)
        await self.command("transfer", f"{target}?Replaces={replaces}")

    async def hangup(self, call: BaresipCall) -> None:
        if call.closed.is_set():
            return
        await self.select(call)
        await self.command("hangup")
        await asyncio.wait_for(call.closed.wait(), 10)
