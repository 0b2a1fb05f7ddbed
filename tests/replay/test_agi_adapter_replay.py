"""The recorded dialplan streams played through the live adapter itself
(``AgiController``: translator, machine and the effects it carries out) with
fake AMI and FastAGI ports: no Asterisk.

Checked against Asterisk's own events in each stream: as many segments
handed off as MixMonitors it started, numbered from 1; and against nothing
callrec keeps: once the stream is over every call is forgotten.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policy import Config
from tests.replay.ami_replayer import truth
from tests.replay.live_replayer import play_live
from tests.replay.replayer import load
from tests.replay.test_ami_replay import STREAMS, stream


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem.removeprefix("test_")[:50])
async def test_live_adapter_delivers_what_asterisk_recorded(
    dialplan_policy: Config, path: Path, tmp_path: Path
) -> None:
    events = load(path)
    controller, handoff, _ = await play_live(dialplan_policy, events, tmp_path)
    seen = truth(events)
    assert seen, "no call in the stream"
    for call_id, counts in seen.items():
        started = counts["MixMonitorStart"]
        assert handoff.delivered.get(call_id, []) == list(range(1, started + 1))
    assert not controller.calls, "a call left live"
    assert not controller._by_channel and not controller._locks and not controller.machines
    held = controller.translator
    assert not held.calls and not held.gone and not held.flags, "the translator kept a call"
    assert not controller._names and not controller.waiters._futures


async def test_live_transferer_hangup_before_attended_transfer_event(
    dialplan_policy: Config, tmp_path: Path
) -> None:
    """Asterisk may report the transferring agent gone before AttendedTransfer."""
    events = stream("native_attended_transfer")
    (xfer,) = [e for e in events if e.get("Event") == "AttendedTransfer"]
    (gone,) = [
        e
        for e in events
        if e.get("Event") == "Hangup" and e["Uniqueid"] == xfer["OrigTransfererUniqueid"]
    ]
    events.remove(gone)
    events.insert(events.index(xfer), gone)
    controller, handoff, _ = await play_live(dialplan_policy, events, tmp_path)
    (delivered,) = handoff.delivered.values()
    assert delivered == [1, 2]
    assert not controller.calls


async def test_live_attended_transfer_publishes_the_new_agents_decision(
    dialplan_policy: Config, tmp_path: Path
) -> None:
    events = stream("native_attended_transfer")
    controller, _, sessions = await play_live(dialplan_policy, events, tmp_path)
    ami = controller.ami
    first, consulted = sessions
    assert first.sets["CALLREC_STATUS"] == consulted.sets["CALLREC_STATUS"] == "ok"
    assert consulted.sets["CALLREC_PHASE_DECIDED"] == "post_transfer"
    assert consulted.sets["CALLREC_RECORDING_ID"] == ""  # nothing of its own yet
    # At completion: MixMonitor by AMI on the consulted agent, outputs set there.
    started = [f for name, f in ami.log if name == "MixMonitor"]  # type: ignore[attr-defined]
    assert [f["Channel"] for f in started] == [consulted.uniqueid]
    outputs = {
        f["Variable"]: f["Value"]
        for name, f in ami.log  # type: ignore[attr-defined]
        if name == "Setvar" and f["Channel"] == consulted.uniqueid
    }
    assert outputs["CALLREC_PHASE_DECIDED"] == "post_transfer"
    assert outputs["CALLREC_RECORDING_ID"]


@pytest.mark.parametrize(
    ("name", "outcomes"),
    [
        ("forbidden_toggle_is_refused_never", None),
        ("toggle_record_and_pause_by_dtmf", ["start", "pause", "resume", "stop"]),
    ],
)
async def test_live_dtmf_outcomes(
    dialplan_policy: Config, tmp_path: Path, name: str, outcomes: list[str] | None
) -> None:
    _, _, sessions = await play_live(dialplan_policy, stream(name), tmp_path)
    answer, *toggles = sessions
    assert answer.sets["CALLREC_STATUS"] == "ok"
    results = [t.sets["CALLREC_DTMF_RESULT"] for t in toggles]
    if outcomes is not None:
        assert results == outcomes
    else:  # mode never: every key refused, by a rule of the decision
        assert results and all(r.startswith("refused:action.") for r in results), results


async def test_live_attended_transfer_reads_the_checkbox_when_its_event_is_late(
    dialplan_policy: Config, tmp_path: Path
) -> None:
    """AttendedTransfer before the transferer's checkbox UserEvent: the adapter
    reads the checkbox through AMI and the new agent's segment starts by itself."""
    events = stream("native_attended_transfer")
    (flag,) = [e for e in events if e.get("UserEvent") == "CallrecContinueRecording"]
    events.remove(flag)
    xfer = next(e for e in events if e.get("Event") == "AttendedTransfer")
    events.insert(events.index(xfer) + 1, flag)
    controller, handoff, _ = await play_live(dialplan_policy, events, tmp_path)
    (delivered,) = handoff.delivered.values()
    assert delivered == [1, 2]  # xfer_demand: on_demand after it, so only by the checkbox
    transferer = xfer["OrigTransfererUniqueid"]
    reads = controller.ami.reads  # type: ignore[attr-defined]
    # At the consultation's answer, and again when the transfer completed.
    assert reads.count((transferer, "CALLREC_CONTINUE_RECORDING")) == 2, reads
