"""A dialplan call saved mid-consultation by the version-2 code, taken back after
the upgrade and restart: it resumes consulting, and its live recording is delivered
whether the consultation is then abandoned or completed.

No Asterisk here: the live controller runs with the fake AMI of the replays
(a channel exists until its Hangup). The tier on the real Asterisk is
``tests/agi/test_restart.py``.
"""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path
from typing import Any, cast

import pytest

from agi_scripts.controller import AgiController
from callcore.ami import Ami
from callcore.finish import Handoff
from callcore.mixmonitor import MonitorDir
from callcore.registry import CallRegistry
from callcore.state import TransferWait
from callcore.state_store import StateStore
from policy import Config
from storage.segment import FinishedSegment
from tests.replay.live_replayer import FakeAmi

FIXTURE = Path(__file__).parents[1] / "callcore" / "fixtures" / "state_v2_agi_consulting.json"
AGENT, CUSTOMER, CONSULTED = "1764600100.12", "1764600100.10", "1764600101.20"


class Sink:
    def __init__(self) -> None:
        self.segments: list[FinishedSegment] = []

    async def accept_segment(self, seg: FinishedSegment) -> str:
        self.segments.append(seg)
        return seg.recording_id


def _v2_state(tmp_path: Path) -> dict[str, Any]:
    """The v2 file, its capture a real closed WAV (what MixMonitor wrote so far)."""
    data: dict[str, Any] = json.loads(FIXTURE.read_text().replace("RECDIR", str(tmp_path / "rec")))
    assert data["schema_version"] == 2 and "consulting" not in data
    for cap in data["segment"]["captures"].values():
        path = Path(cap["host_path"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\0\1" * 12000)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / f"{data['call_id']}.json").write_text(json.dumps(data))
    return data


async def _restarted(
    policy: Config, tmp_path: Path, gone: tuple[str, ...] = ()
) -> tuple[AgiController, FakeAmi, Sink]:
    ami, sink = FakeAmi([]), Sink()
    ami.gone.update(gone)  # channels that left while callrec was down
    controller = AgiController(
        policy=lambda: policy,
        registry=CallRegistry(),
        handoff=Handoff(sink, tmp_path / "pending"),
        store=StateStore(tmp_path / "state"),
        monitor=MonitorDir(tmp_path / "monitor", "/monitor"),
        ami=cast(Ami, ami),
        agent_dial=lambda agent: None,
        close_timeout=1.0,
    )
    assert await controller.recover() == 1
    return controller, ami, sink


async def _event(ami: FakeAmi, event: dict[str, str]) -> None:
    if event["Event"] == "Hangup":
        ami.gone.add(event["Uniqueid"])
    await asyncio.gather(*ami.dispatch(event))


async def _forgotten(controller: AgiController, call_id: str) -> None:
    for _ in range(200):
        if call_id not in controller.calls:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the call was not finished")


@pytest.mark.parametrize("ending", ["abandoned", "completed"])
async def test_v2_call_mid_consultation_resumes_and_is_delivered(
    dialplan_policy: Config, tmp_path: Path, ending: str
) -> None:
    old = _v2_state(tmp_path)
    controller, ami, sink = await _restarted(dialplan_policy, tmp_path)
    call = controller.calls[old["call_id"]]
    assert controller.machines[call.call_id].state.label == "consulting (segment runs)"
    assert call.consulting == TransferWait("2002", False, consult=True)
    if ending == "abandoned":
        await _event(ami, {"Event": "Hangup", "Uniqueid": CONSULTED})
        assert controller.machines[call.call_id].state.name == "recording"
        assert call.consulting is None and call.consult is None and not sink.segments
        await _event(ami, {"Event": "Hangup", "Uniqueid": CUSTOMER})
    else:
        await _event(ami, {"Event": "AttendedTransfer", "Result": "Success",
                           "OrigTransfererUniqueid": AGENT})  # fmt: skip
        assert call.agent == "2002" and call.phase == "post_transfer"
        assert call.consulting is None and call.channels["agent"] == CONSULTED
        # The segment's MixMonitor is stopped where it runs: on the transferring agent.
        assert ("StopMixMonitor", {"Channel": AGENT, "MixMonitorID": "0x7f00aa"}) in ami.log
        await _event(ami, {"Event": "Hangup", "Uniqueid": AGENT})
        await _event(ami, {"Event": "Hangup", "Uniqueid": CUSTOMER})
    await controller.drain()
    await _forgotten(controller, call.call_id)
    seg = sink.segments[0]
    assert seg.recording_id == old["segment"]["recording_id"] and seg.call_id == old["call_id"]
    assert seg.segment_no == 2 and "state_unreadable" not in seg.flags
    # 2002's segment is on demand (the policy's post-transfer mode): none was started.
    assert [s.segment_no for s in sink.segments] == [2]


async def test_consulted_agent_gone_while_down_abandons_the_transfer(
    dialplan_policy: Config, tmp_path: Path
) -> None:
    old = _v2_state(tmp_path)
    controller, ami, sink = await _restarted(dialplan_policy, tmp_path, gone=(CONSULTED,))
    call = controller.calls[old["call_id"]]
    assert controller.machines[call.call_id].state.name == "recording"
    assert call.consult is None and call.consulting is None and call.agent == "1001"
    assert call.segment is not None and not sink.segments  # the segment goes on
    await _event(ami, {"Event": "Hangup", "Uniqueid": CUSTOMER})
    await controller.drain()
    await _forgotten(controller, call.call_id)
    (seg,) = sink.segments
    assert seg.recording_id == old["segment"]["recording_id"] and seg.segment_no == 2
