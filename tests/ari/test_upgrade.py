"""A live call's state file from before the upgrade: migrated, its recording delivered.

No Asterisk here: a fake ARI port answers what the reconnect asks (which
channels exist, whether the recordings are live) and stops recordings the
way Asterisk does (RecordingFinished on the event stream).
"""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path
from typing import Any

from ari_app.app import StasisApp
from callcore.finish import Handoff
from callcore.registry import CallRegistry
from callcore.state_migrate import UNREADABLE_FLAG
from callcore.state_store import StateStore
from policy import Config
from storage.segment import FinishedSegment

FIXTURE = Path(__file__).parents[1] / "callcore" / "fixtures" / "state_v1_ari.json"


class FakeAri:
    def __init__(self, channels: list[str]) -> None:
        self.channels = channels
        self.app: StasisApp | None = None

    async def set_event_filter(self, types: list[str]) -> None:
        pass

    async def list_channels(self) -> list[dict[str, Any]]:
        return [{"id": c, "name": f"Local/{c}"} for c in self.channels]

    async def list_bridges(self) -> list[dict[str, Any]]:
        return []

    async def live_recording(self, name: str) -> dict[str, Any]:
        return {"name": name, "state": "recording"}

    async def stop_recording(self, name: str) -> None:
        assert self.app is not None
        event = {"type": "RecordingFinished", "recording": {"name": name}}
        asyncio.get_running_loop().call_soon(self.app._route, event)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        if channel_id in self.channels:
            self.channels.remove(channel_id)

    async def destroy_bridge(self, bridge_id: str) -> None:
        pass


class Sink:
    def __init__(self) -> None:
        self.segments: list[FinishedSegment] = []

    async def accept_segment(self, seg: FinishedSegment) -> str:
        self.segments.append(seg)
        return seg.recording_id


def _old_state(tmp_path: Path, edit: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fixture with its capture paths pointing at real WAVs of 1.5 s."""
    data = json.loads(FIXTURE.read_text().replace("RECDIR", str(tmp_path / "rec")))
    data.update(edit or {})
    for cap in data["segment"]["captures"].values():
        path = Path(cap["host_path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\0\1" * 12000)
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    (state / f"{data['call_id']}.json").write_text(json.dumps(data))
    return data


def _app(tmp_path: Path, client: FakeAri, sink: Sink) -> StasisApp:
    app = StasisApp(
        client,  # type: ignore[arg-type]
        config=Config,
        registry=CallRegistry(),
        store=StateStore(tmp_path / "state"),
        handoff=Handoff(sink, tmp_path / "pending"),
        recording_dir=tmp_path / "rec",
        agent_endpoint=lambda a: f"PJSIP/{a}",
        customer_endpoint=lambda n: f"PJSIP/{n}",
    )
    client.app = app
    return app


async def test_call_that_ended_during_the_upgrade_is_delivered(tmp_path: Path) -> None:
    old = _old_state(tmp_path)
    sink = Sink()
    app = _app(tmp_path, FakeAri(channels=[]), sink)
    await app._on_connected()
    await app.drain()
    (seg,) = sink.segments
    assert seg.recording_id == old["segment"]["recording_id"] and seg.call_id == old["call_id"]
    assert seg.decision["mode"] == "all_calls" and "consent.one_party" in seg.reasons
    assert set(seg.files) == {"agent", "customer", "stereo"}
    assert app.calls == {} and not list((tmp_path / "state").glob("*.json"))


async def test_live_call_goes_on_after_the_upgrade_and_is_delivered_on_hangup(
    tmp_path: Path,
) -> None:
    old = _old_state(tmp_path)
    client = FakeAri(channels=list(old["channels"].values()))
    sink = Sink()
    app = _app(tmp_path, client, sink)
    await app._on_connected()
    call = app.calls[old["call_id"]]
    assert call.recording and call.decision is not None and call.refusals
    assert not sink.segments  # still live: nothing delivered yet
    app._route({"type": "StasisEnd", "channel": {"id": old["channels"]["customer"]}})
    for _ in range(100):
        if sink.segments and not app.calls:
            break
        await asyncio.sleep(0.02)
    (seg,) = sink.segments
    assert seg.recording_id == old["segment"]["recording_id"]
    assert UNREADABLE_FLAG not in seg.flags
    assert app.calls == {} and app._locks == {}


async def test_unreadable_live_call_is_delivered_flagged(tmp_path: Path) -> None:
    old = _old_state(tmp_path, {"decision": "garbage", "schema_version": 2})
    sink = Sink()
    app = _app(tmp_path, FakeAri(channels=[]), sink)
    await app._on_connected()
    await app.drain()
    (seg,) = sink.segments
    assert seg.recording_id == old["segment"]["recording_id"]
    assert UNREADABLE_FLAG in seg.flags
