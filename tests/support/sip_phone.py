"""A minimal SIP phone for tests: enough of RFC 3261/3515/3891 to act as an
agent's desk phone that answers a call, sends a tone over RTP, places a
consultation call and completes an attended transfer with REFER + Replaces.

SIPp can do each message, but an attended transfer needs one user agent that
holds two dialogs and copies the second one's tags into the REFER of the
first; this small phone does exactly that and nothing else (UDP, PCMU, no
authentication: the sandbox's test endpoint is identified by address).
"""

from __future__ import annotations

import asyncio
import math
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

RTP_PT_PCMU = 0


def ulaw(sample: int) -> int:
    """G.711 mu-law of one 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), 32635) + 0x84
    exponent, mask = 7, 0x4000
    while exponent > 0 and not sample & mask:
        exponent, mask = exponent - 1, mask >> 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone(hz: float, seconds: float) -> bytes:
    n = int(8000 * seconds)
    return bytes(ulaw(int(8000 * math.sin(2 * math.pi * hz * i / 8000))) for i in range(n))


@dataclass
class Message:
    first: str
    headers: list[tuple[str, str]]
    body: str

    @property
    def is_request(self) -> bool:
        return not self.first.startswith("SIP/2.0")

    @property
    def method(self) -> str:
        return self.first.split()[0] if self.is_request else self.header("CSeq").split()[1]

    @property
    def status(self) -> int:
        return 0 if self.is_request else int(self.first.split()[1])

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers if k.lower() == name.lower()), "")

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @classmethod
    def parse(cls, data: bytes) -> Message:
        head, _, body = data.decode(errors="replace").partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        return cls(lines[0], headers, body)


def tag_of(value: str) -> str:
    m = re.search(r";tag=([^;>\s]+)", value)
    return m.group(1) if m else ""


def uri_of(value: str) -> str:
    m = re.search(r"<([^>]+)>", value)
    return m.group(1) if m else value.split(";")[0].strip()


def sdp_media(body: str) -> tuple[str, int]:
    host = re.search(r"^c=IN IP4 (\S+)", body, re.M)
    port = re.search(r"^m=audio (\d+)", body, re.M)
    assert host and port, f"no audio in SDP: {body!r}"
    return host.group(1), int(port.group(1))


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: str
    remote_uri: str
    remote_target: str  # the peer's Contact
    cseq: int = 1
    rtp_to: tuple[str, int] | None = None
    rtp_task: asyncio.Task[None] | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, phone: SipPhone) -> None:
        self.phone = phone

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.strip():
            self.phone._received(Message.parse(data), addr)


class _Sink(asyncio.DatagramProtocol):
    pass


class SipPhone:
    """One user (``user``) on 127.0.0.1; talks to one server at ``server``."""

    def __init__(self, user: str, server: tuple[str, int], tone_hz: float) -> None:
        self.user, self.server, self.tone_hz = user, server, tone_hz
        self.host = "127.0.0.1"
        self.port = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.dialogs: dict[str, Dialog] = {}
        self.incoming: asyncio.Queue[Dialog] = asyncio.Queue()
        self.notifies: list[str] = []  # sipfrag bodies of the REFER's NOTIFYs
        self.transfer_done = asyncio.Event()
        self._waiting: dict[tuple[str, str], asyncio.Future[Message]] = {}
        self._rtp_ports: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._audio = tone(tone_hz, 1.0)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=(self.host, 0)
        )
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    @property
    def uri(self) -> str:
        return f"sip:{self.user}@{self.host}:{self.port}"

    def close(self) -> None:
        for d in self.dialogs.values():
            if d.rtp_task:
                d.rtp_task.cancel()
        if self.transport:
            self.transport.close()

    # ------------------------------------------------------------- wire

    def _send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.sendto(text.encode(), self.server)

    def _via(self) -> str:
        return f"SIP/2.0/UDP {self.host}:{self.port};rport;branch=z9hG4bK{uuid.uuid4().hex[:16]}"

    def _reply(self, req: Message, status: str, extra: str = "", body: str = "") -> None:
        lines = [f"SIP/2.0 {status}"]
        lines += [f"Via: {v}" for v in req.all("Via")]
        to = req.header("To")
        dialog = self.dialogs.get(req.header("Call-ID"))
        if dialog and not tag_of(to):
            to += f";tag={dialog.local_tag}"
        lines += [f"From: {req.header('From')}", f"To: {to}"]
        lines += [f"Call-ID: {req.header('Call-ID')}", f"CSeq: {req.header('CSeq')}"]
        lines += [f"Contact: <{self.uri}>"] + ([extra] if extra else [])
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self._send("\r\n".join(lines) + "\r\n\r\n" + body)

    def _request(self, d: Dialog, method: str, extra: list[str], body: str = "") -> None:
        d.cseq += 1
        lines = [f"{method} {d.remote_target} SIP/2.0", f"Via: {self._via()}"]
        lines += [f"From: <{d.local_uri}>;tag={d.local_tag}"]
        to = f"<{d.remote_uri}>" + (f";tag={d.remote_tag}" if d.remote_tag else "")
        lines += [f"To: {to}", f"Call-ID: {d.call_id}", f"CSeq: {d.cseq} {method}"]
        lines += [f"Contact: <{self.uri}>", "Max-Forwards: 70", *extra]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        self._send("\r\n".join(lines) + "\r\n\r\n" + body)

    def _sdp(self, rtp_port: int) -> str:
        return (
            f"v=0\r\no=- 1 1 IN IP4 {self.host}\r\ns=-\r\nc=IN IP4 {self.host}\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        )

    async def _rtp_port(self) -> tuple[asyncio.DatagramTransport, int]:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Sink, local_addr=(self.host, 0))
        return transport, transport.get_extra_info("sockname")[1]

    async def _stream(self, d: Dialog, transport: asyncio.DatagramTransport) -> None:
        """20 ms PCMU packets of the phone's tone, paced by the clock."""
        assert d.rtp_to is not None
        loop = asyncio.get_running_loop()
        seq, ts, ssrc = 0, 0, uuid.uuid4().int & 0xFFFFFFFF
        start = loop.time()
        try:
            while True:
                off = ts % len(self._audio)  # one second of tone, 50 packets
                payload = self._audio[off : off + 160]
                header = bytes([0x80, RTP_PT_PCMU]) + seq.to_bytes(2, "big")
                header += ts.to_bytes(4, "big") + ssrc.to_bytes(4, "big")
                transport.sendto(header + payload, d.rtp_to)
                seq, ts = (seq + 1) & 0xFFFF, (ts + 160) & 0xFFFFFFFF
                await asyncio.sleep(max(0.0, start + (seq * 0.02) - loop.time()))
        finally:
            transport.close()

    def _received(self, msg: Message, addr: tuple[str, int]) -> None:
        call_id = msg.header("Call-ID")
        if not msg.is_request:
            fut = self._waiting.get((call_id, msg.method))
            if fut and not fut.done() and msg.status >= 200:
                fut.set_result(msg)
            return
        method = msg.method
        if method == "INVITE" and call_id not in self.dialogs:
            task = asyncio.ensure_future(self._answer(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif method in ("ACK",):
            return
        elif method == "NOTIFY":
            self.notifies.append(msg.body.strip())
            self._reply(msg, "200 OK")
            if msg.body.strip().startswith("SIP/2.0 2"):
                self.transfer_done.set()
        elif method == "BYE":
            self._reply(msg, "200 OK")
            d = self.dialogs.get(call_id)
            if d:
                if d.rtp_task:
                    d.rtp_task.cancel()
                d.ended.set()
        elif method in ("OPTIONS", "INVITE", "UPDATE", "INFO"):
            # A re-INVITE keeps our media as it is (no hold handling needed here).
            d = self.dialogs.get(call_id)
            body = self._sdp(self._rtp_ports.get(call_id, 0)) if d and method == "INVITE" else ""
            self._reply(msg, "200 OK", body=body)
        else:
            self._reply(msg, "405 Method Not Allowed")

    async def _answer(self, invite: Message) -> None:
        d = Dialog(
            call_id=invite.header("Call-ID"),
            local_tag=uuid.uuid4().hex[:10],
            remote_tag=tag_of(invite.header("From")),
            local_uri=uri_of(invite.header("To")),
            remote_uri=uri_of(invite.header("From")),
            remote_target=uri_of(invite.header("Contact")),
            cseq=0,
        )
        self.dialogs[d.call_id] = d
        transport, port = await self._rtp_port()
        self._rtp_ports[d.call_id] = port
        d.rtp_to = sdp_media(invite.body)
        self._reply(invite, "200 OK", body=self._sdp(port))
        d.rtp_task = asyncio.ensure_future(self._stream(d, transport))
        await self.incoming.put(d)

    async def _transaction(
        self, d: Dialog, method: str, extra: list[str], body: str = ""
    ) -> Message:
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[(d.call_id, method)] = fut
        for _ in range(6):  # UDP: retransmit until a final answer
            self._request(d, method, extra, body)
            d.cseq -= 1  # a retransmission keeps its CSeq
            try:
                reply = await asyncio.wait_for(asyncio.shield(fut), 1.0)
                d.cseq += 1
                return reply
            except TimeoutError:
                continue
        raise TimeoutError(f"no answer to {method}")

    # ----------------------------------------------------------- actions

    async def call(self, exten: str) -> Dialog:
        """Place a call to ``exten`` (the consultation call) and wait for its answer."""
        server = f"sip:{exten}@{self.server[0]}:{self.server[1]}"
        d = Dialog(
            call_id=uuid.uuid4().hex,
            local_tag=uuid.uuid4().hex[:10],
            remote_tag="",
            local_uri=self.uri,
            remote_uri=server,
            remote_target=server,
        )
        self.dialogs[d.call_id] = d
        transport, port = await self._rtp_port()
        self._rtp_ports[d.call_id] = port
        reply = await self._transaction(d, "INVITE", [], self._sdp(port))
        assert reply.status == 200, reply.first
        d.remote_tag = tag_of(reply.header("To"))
        d.remote_target = uri_of(reply.header("Contact")) or server
        d.rtp_to = sdp_media(reply.body)
        # ACK is its own transaction with the INVITE's CSeq number.
        lines = [f"ACK {d.remote_target} SIP/2.0", f"Via: {self._via()}"]
        lines += [f"From: <{d.local_uri}>;tag={d.local_tag}"]
        lines += [f"To: <{d.remote_uri}>;tag={d.remote_tag}", f"Call-ID: {d.call_id}"]
        lines += [f"CSeq: {d.cseq} ACK", "Max-Forwards: 70", "Content-Length: 0"]
        self._send("\r\n".join(lines) + "\r\n\r\n")
        d.rtp_task = asyncio.ensure_future(self._stream(d, transport))
        return d

    async def attended_transfer(self, first: Dialog, consult: Dialog) -> Message:
        """REFER the first call's peer to the consultation call's peer (RFC 5589 7.1).

        Returns the answer to the REFER; when the server then reports success
        (NOTIFY with a 2xx sipfrag) the phone hangs up the first call, as desk
        phones do (see ``finish_transfer``).
        """
        replaces = quote(
            f"{consult.call_id};to-tag={consult.remote_tag};from-tag={consult.local_tag}",
            safe="",
        )
        target = uri_of(consult.remote_uri)
        refer_to = f"Refer-To: <{target}?Replaces={replaces}>"
        return await self._transaction(first, "REFER", [refer_to, f"Referred-By: <{self.uri}>"])

    async def finish_transfer(self, first: Dialog, timeout: float = 10.0) -> None:
        """Wait for the transfer's success report, then hang up the first call."""
        await asyncio.wait_for(self.transfer_done.wait(), timeout)
        await self.hangup(first)

    async def hangup(self, d: Dialog) -> None:
        if d.ended.is_set():
            return
        await self._transaction(d, "BYE", [])
        if d.rtp_task:
            d.rtp_task.cancel()
        d.ended.set()
