"""Recorded AMI streams (and FastAGI requests) of real dialplan calls, replayed
through the dialplan translator and the call machine with fake ports: no
Asterisk, all of them in well under 20 s.

The streams were recorded from the sandbox Asterisk by the integration tests
in ``tests/agi`` (see ``tests/support/event_recorder.py`` for the command).
What each replay must produce is checked against Asterisk's own events in the
stream (the MixMonitors it really started and muted, the parties' Hangup),
not against what callrec did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from callcore.events import (
    DeliverSegment,
    EndCall,
    MuteCapture,
    StartCapture,
)
from policy import Config
from tests.replay.ami_replayer import AmiReplayer, truth
from tests.replay.replayer import Outcome, load

FIXTURES = Path(__file__).parent / "fixtures" / "ami"
STREAMS = sorted(FIXTURES.glob("*.jsonl"))


def stream(name: str) -> list[dict[str, Any]]:
    (path,) = [p for p in STREAMS if name in p.stem]
    return load(path)


def replay(policy: Config, events: list[dict[str, Any]]) -> tuple[str, Outcome]:
    outcome = AmiReplayer(policy).play(events)
    (call_id,) = outcome.final  # one call per recorded test
    return call_id, outcome


def test_fixtures_are_there() -> None:
    assert len(STREAMS) >= 15, f"recorded streams missing in {FIXTURES}"


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem.removeprefix("test_")[:50])
def test_every_stream_delivers_what_asterisk_recorded(dialplan_policy: Config, path: Path) -> None:
    events = load(path)
    outcome = AmiReplayer(dialplan_policy).play(events)
    seen = truth(events)
    assert outcome.final, "no call in the stream"
    for call_id, state in outcome.final.items():
        why = outcome.transitions[call_id]
        assert state == "ended", why
        delivered = [e.segment_no for e in outcome.of(call_id, DeliverSegment)]
        assert len(delivered) == seen[call_id]["MixMonitorStart"], why
        assert delivered == list(range(1, len(delivered) + 1)), why  # each once, in order
        started = outcome.of(call_id, StartCapture)
        assert len(started) == seen[call_id]["MixMonitorStart"], why
        mutes = [m.muted for m in outcome.of(call_id, MuteCapture)]
        assert mutes.count(True) == seen[call_id]["Mute1"], why
        assert mutes.count(False) == seen[call_id]["Mute0"], why
        assert outcome.of(call_id, EndCall) == [EndCall()]
