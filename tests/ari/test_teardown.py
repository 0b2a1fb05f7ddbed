"""Teardown errors never keep a recording from storage (no Asterisk: a fake ARI port).

Asterisk answers ``409 Recording not in session`` to a stop when the spied
channel hung up first; that used to escape after the call was marked ended,
leaving the call listed, its channels and bridge in Asterisk and its WAVs
undelivered.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

from ari_app.app import StasisApp
from ari_app.client import AriConflict, AriNotFound, AriUnavailable
from callcore.finish import Handoff
from callcore.registry import CallRegistry
from callcore.state import CallState, Capture, Segment
from callcore.state_store import StateStore
from policy import Config, Decision
from storage.segment import FinishedSegment
from tests.ari.harness import per_call_leftovers


class RefusingAri:
    """Answers every stop with 409 and every teardown request with an error."""

    def __init__(self, stop_error: Exception) -> None:
        self.stop_error = stop_error
        self.requests: list[tuple[str, str]] = []

    async def stop_recording(self, name: str) -> None:
        self.requests.append(("stop", name))
        raise self.stop_error

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.requests.append(("hangup", channel_id))
        raise AriNotFound(404, "Channel not found", "DELETE", f"/channels/{channel_id}")

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.requests.append(("destroy_bridge", bridge_id))
        raise AriUnavailable("link down")


class Sink:
    def __init__(self) -> None:
        self.segments: list[FinishedSegment] = []

    async def accept_segment(self, seg: FinishedSegment) -> str:
        self.segments.append(seg)
        return seg.recording_id


def _wav(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * int(8000 * seconds))


def _live_call(tmp_path: Path) -> CallState:
    call = CallState(call_id="c0ffee", source="ari", direction="outbound", agent="a1")
    call.channels = {"agent": "c0ffee-a1", "customer": "c0ffee-c"}
    call.bridge_id = "c0ffee-b"
    call.decision = Decision("both", True, False, True, True, "all_calls", None, ("t",))
    seg = Segment(
        recording_id="r1",
        segment_no=1,
        agent="a1",
        legs="both",
        decision=call.decision,
        started_at=1000.0,
    )
    for leg in ("agent", "customer"):
        path = tmp_path / f"r1-{leg}.wav"
        _wav(path, 1.0)
        seg.captures[leg] = Capture(
            leg=leg,
            handle=f"callrec/r1-{leg}",
            host_path=str(path),
            snoop_id=f"r1-{leg}",
            started_at=1000.0,
        )
    call.segment = seg
    return call


async def _end_with(tmp_path: Path, stop_error: Exception) -> tuple[StasisApp, Sink, RefusingAri]:
    client = RefusingAri(stop_error)
    sink = Sink()
    app = StasisApp(
        client,  # type: ignore[arg-type]
        config=Config,
        registry=CallRegistry(),
        store=StateStore(tmp_path / "state"),
        handoff=Handoff(sink, tmp_path / "pending"),
        recording_dir=tmp_path,
        agent_endpoint=lambda a: f"PJSIP/{a}",
        customer_endpoint=lambda n: f"PJSIP/{n}",
    )
    call = _live_call(tmp_path)
    app._track(call)
    app._save(call)
    await app._end_call(call, at=1001.0)
    await app.drain()  # hand-offs run outside the call's lock
    return app, sink, client


async def test_409_on_stop_still_delivers_and_cleans_up(tmp_path: Path) -> None:
    conflict = AriConflict(409, "Recording not in session", "POST", "/recordings/live/x/stop")
    app, sink, client = await _end_with(tmp_path, conflict)
    assert [s.recording_id for s in sink.segments] == ["r1"]
    assert set(sink.segments[0].files) == {"agent", "customer", "stereo"}
    assert app.calls == {} and app.registry.all() == [] and app.translator._by_channel == {}
    assert app._locks == {} and app.translator.calls == {} and not app._delivering
    assert not list((tmp_path / "state").glob("*.json"))
    asked = {kind for kind, _ in client.requests}
    assert asked == {"stop", "hangup", "destroy_bridge"}  # teardown still attempted


async def test_a_party_transferred_in_but_not_yet_carried_out_is_hung_up(
    tmp_path: Path,
) -> None:
    """The customer leaves just as Asterisk put a new agent in the bridge (a REFER)."""
    client = RefusingAri(AriNotFound(404, "Recording not found", "POST", "/x"))
    app = StasisApp(
        client,  # type: ignore[arg-type]
        config=Config,
        registry=CallRegistry(),
        store=StateStore(tmp_path / "state"),
        handoff=Handoff(Sink(), tmp_path / "pending"),
        recording_dir=tmp_path,
        agent_endpoint=lambda a: f"PJSIP/{a}",
        customer_endpoint=lambda n: f"PJSIP/{n}",
    )
    call = _live_call(tmp_path)
    app._track(call)
    app.translator.feed(
        {
            "type": "StasisStart",
            "args": [],
            "channel": {"id": "new-agent", "dialplan": {"exten": "a2"}},
            "replace_channel": {"id": "c0ffee-a1"},
        }
    )
    await app._end_call(call, at=1001.0)
    await app.drain()
    hung_up = [channel for kind, channel in client.requests if kind == "hangup"]
    assert {"c0ffee-a1", "c0ffee-c", "new-agent"} <= set(hung_up)  # and the snoops
    assert app.translator._by_channel == {}


async def test_unexpected_stop_error_still_delivers(tmp_path: Path) -> None:
    app, sink, _ = await _end_with(tmp_path, RuntimeError("anything at all"))
    assert [s.recording_id for s in sink.segments] == ["r1"]
    assert app.calls == {} and app.registry.all() == []


async def test_no_per_call_objects_remain_after_many_calls(tmp_path: Path) -> None:
    client = RefusingAri(AriConflict(409, "Recording not in session", "POST", "/x"))
    sink = Sink()
    app = StasisApp(
        client,  # type: ignore[arg-type]
        config=Config,
        registry=CallRegistry(),
        store=StateStore(tmp_path / "state"),
        handoff=Handoff(sink, tmp_path / "pending"),
        recording_dir=tmp_path,
        agent_endpoint=lambda a: f"PJSIP/{a}",
        customer_endpoint=lambda n: f"PJSIP/{n}",
    )
    for n in range(50):
        (tmp_path / f"c{n}").mkdir()
        call = _live_call(tmp_path / f"c{n}")  # own files: hand-offs run in the background
        call.call_id = f"c{n}"
        call.channels = {"agent": f"c{n}-a1", "customer": f"c{n}-c"}
        app._track(call)
        app.translator.feed(_dtmf_event(call.channels["agent"], "*"))  # a matcher is made
        await app._end_call(call, at=1001.0)
    await app.drain()
    assert len(sink.segments) == 50
    assert per_call_leftovers(app) == {}


def _dtmf_event(channel_id: str, digit: str) -> dict[str, Any]:
    return {"type": "ChannelDtmfReceived", "channel": {"id": channel_id}, "digit": digit}
