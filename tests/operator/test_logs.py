"""JSON log lines: call id, segment and recording id on every line about a call."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from callcore import log_context
from callcore.log_context import CallContextFilter
from callcore.state import CallState, Capture, Segment
from callrec.logs import CallFields, JsonFormatter, TextFormatter


def _call() -> CallState:
    call = CallState(call_id="c" * 32, source="ari", direction="outbound", agent="a1")
    call.channels = {"customer": "chan-customer-1", "agent": "chan-agent-1"}
    seg = Segment(recording_id="r" * 32, segment_no=2, agent="a1", legs="both", decision={})
    seg.captures["agent"] = Capture(leg="agent", handle="capture-agent-1", host_path="/x")
    call.segment = seg
    return call


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, list[CallState]]]:
    calls = [_call()]
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(CallContextFilter())
    handler.addFilter(CallFields(lambda: list(calls), remember=8))
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("test.callrec.logs")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log, out, calls
    log.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_any_id_of_a_call_in_a_line_brings_all_three_fields(logged) -> None:
    log, out, _ = logged
    log.info("call %s: started", "c" * 32)
    log.info("channel %s hung up", "chan-agent-1")
    log.error("recording %s: no RecordingFinished after stop", "capture-agent-1")
    log.info("segment %s stored", "r" * 32)
    want = {"call_id": "c" * 32, "segment": 2, "recording_id": "r" * 32}
    for line in lines(out):
        assert {k: line.get(k) for k in want} == want, line
    assert lines(out)[2]["level"] == "ERROR"
    assert lines(out)[2]["message"] == "recording capture-agent-1: no RecordingFinished after stop"


def test_a_line_about_nothing_has_no_call_fields(logged) -> None:
    log, out, _ = logged
    log.info("ARI events connected (app %s)", "callrec")
    log.info("plain")
    assert all("call_id" not in line for line in lines(out))


def test_an_ended_call_is_remembered_within_bounds(logged) -> None:
    log, out, calls = logged
    log.info("call %s: live", "c" * 32)
    calls.clear()  # the call ended and left the registry
    log.info("call %s ended after 2 segment(s)", "c" * 32)
    assert lines(out)[-1]["call_id"] == "c" * 32
    many = [_call() for _ in range(10)]
    for i, call in enumerate(many):
        call.call_id = f"{i:032x}"
        call.channels = {}
        call.segment = None
    calls.extend(many)
    log.info("tick %s", "nothing-here")  # the ten are seen (live ids are never dropped)
    calls.clear()
    log.info("tick %s", "nothing-here")  # none live: the table shrinks to its 8 newest ids
    log.info("call %s again", "c" * 32)
    assert "call_id" not in lines(out)[-1]  # forgotten


def test_bound_context_and_extra_win(logged) -> None:
    log, out, _ = logged
    with log_context.about(call_id="d" * 32, segment=1):
        log.info("inside %s", "chan-agent-1")
    log.info("explicit", extra={"call_id": "e" * 32})
    first, second = lines(out)
    assert first["call_id"] == "d" * 32 and first["segment"] == 1
    assert second["call_id"] == "e" * 32
    assert log_context.current() == {}


def test_text_format_appends_the_fields() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "call %s", ("c",), None)
    record.call_id = "c"
    record.segment = 1
    assert TextFormatter().format(record).endswith("call c [call_id=c segment=1]")


def test_live_calls_are_never_forgotten_however_many(logged) -> None:
    log, out, calls = logged  # the filter remembers 8 ids; 30 calls have 60+ ids
    for i in range(30):
        call = _call()
        call.call_id = f"{i:032x}"
        call.channels = {"customer": f"channel-{i:04d}"}
        call.segment = None
        calls.append(call)
    for i in (0, 29, 0):
        log.info("channel %s hung up", f"channel-{i:04d}")
        assert lines(out)[-1]["call_id"] == f"{i:032x}"


def test_a_line_naming_the_call_id_has_its_current_segment() -> None:
    call = _call()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(CallFields(lambda: [call], {call.call_id: call}.get, max_age=3600))
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("test.callrec.logs.lookup")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    log.info("call %s: started", call.call_id)
    call.segment = Segment(
        recording_id="n" * 32, segment_no=3, agent="a1", legs="agent", decision={}
    )
    log.info("call %s: next segment", call.call_id)  # the table is not due for a rebuild
    log.info("recording %s done", "n" * 32)  # known now, through the call id line
    first, second, third = lines(out)
    assert first["segment"] == 2 and second["segment"] == 3
    assert third["call_id"] == call.call_id and third["recording_id"] == "n" * 32
