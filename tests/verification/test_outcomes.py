"""Verification outcomes from stored segments and Asterisk spans (fast; real files, SQLite).

The CEL fixture is a real event stream recorded from the sandbox Asterisk
(a plain-dialplan call of about 3 s, no callrec on the route).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callcore.ground_truth import GroundTruth
from callrec.cli import main
from callrec.truth_collector import to_record
from storage import audit
from storage.config import StorageConfig, UploadTargetConfig
from storage.models import Alert, AuditEntry, RecordingFile, Verification
from storage.service import StorageService
from storage.verification import SpanRecord, save_span, verify
from tests.storage.conftest import make_segment, write_wav

FIXTURE = Path(__file__).parent / "fixtures" / "cel_plain_dialplan_call.json"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[StorageService]:
    cfg = StorageConfig(
        db_url=f"sqlite:///{tmp_path / 'callrec.db'}",
        store_root=tmp_path / "store",
        upload=UploadTargetConfig(type="none"),
    )
    svc = StorageService.open(cfg)
    yield svc
    svc.close()


def test_recorded_cel_stream_gives_the_bridged_span() -> None:
    truth = GroundTruth()
    finished = [s for e in json.loads(FIXTURE.read_text()) if (s := truth.feed(e))]
    assert len(finished) == 1
    span = finished[0]
    assert span.call_id is None and span.route is None  # no callrec on this route
    assert span.bridged_at is not None and span.unbridged_at is not None
    assert 2.5 < span.bridged_seconds < 3.6  # the call was hung up after ~3 s
    assert len(span.intervals) == 1
    assert span.answered_at is not None and span.answered_at <= span.bridged_at
    assert all(not c.startswith("Snoop/") for c in span.channels.values())
    record = to_record(span, "node1", {})
    assert record.bridged_at is not None and record.unbridged_at is not None
    assert record.details["intervals"]


def _span(call_id: str | None, start: datetime, seconds: float, **details: object) -> SpanRecord:
    a, b = start.timestamp(), start.timestamp() + seconds
    naive = start.astimezone(UTC).replace(tzinfo=None)
    return SpanRecord(
        linkedid=f"{a:.6f}-{call_id}",
        node="node1",
        call_id=call_id,
        answered_at=naive,
        bridged_at=naive,
        unbridged_at=naive + timedelta(seconds=seconds),
        ended_at=naive + timedelta(seconds=seconds + 0.2),
        details={"intervals": [[a, b]], **details},
    )


async def test_outcomes_for_whole_short_missing_silent_and_gaps(
    service: StorageService, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    ids: dict[str, str] = {}
    for name, seconds in (("whole", 10.0), ("short", 8.0), ("missing", 10.0), ("silent", 10.0)):
        seg = make_segment(tmp_path, seconds=seconds, started_at=t0, call_id=f"call-{name}")
        if name == "silent":
            write_wav(seg.files["customer"], seconds, tone=0)
        # every segment ran to the hangup, 10 s after the bridge by both clocks
        seg = dataclasses.replace(seg, ended_at=t0 + timedelta(seconds=10.3))
        ids[name] = await service.accept_segment(seg)
        save_span(service.db, _span(seg.call_id, t0, 10.0))
        t0 += timedelta(seconds=30)
    with service.db.session() as s:
        gone = s.scalars(
            select(RecordingFile).where(
                RecordingFile.recording_id == ids["missing"], RecordingFile.kind == "customer"
            )
        ).one()
        (service.cfg.store_root / gone.path).unlink()
    # Asterisk bridged a call nobody controlled, and one whose decision said never
    save_span(service.db, _span(None, t0, 5.0, route="fallback-agent"))
    save_span(
        service.db,
        _span("call-never", t0, 5.0, decision={"legs": "none", "autostart": False}, agent="a9"),
    )
    save_span(service.db, _span("call-lost", t0, 5.0, agent="a3", campaign="sales"))

    report = verify(service.db, service.cfg.store_root, since=since)
    assert report.counts == {
        "verified": 1,
        "short": 1,
        "missing": 1,
        "silent_leg": 1,
        "gap": 2,
        "not_recorded_by_decision": 1,
    }
    with service.db.session() as s:
        rows = {v.recording_id: v for v in s.scalars(select(Verification))}
        short = rows[ids["short"]]
        assert short.expected_seconds == pytest.approx(10.0, abs=0.01)
        assert short.captured_seconds == pytest.approx(8.0, abs=0.01)
        assert "80.0%" in short.reason
        assert "customer" in rows[ids["missing"]].reason
        alerts = [a.code for a in s.scalars(select(Alert).where(Alert.cleared_at.is_(None)))]
    assert alerts == ["capture.gap"]
    gaps = [p for p in report.problems if p.outcome == "gap"]
    assert {p.call_id for p in gaps} == {None, "call-lost"}
    assert any("STASISSTATUS=FAILED" in p.reason for p in gaps)

    # Re-running updates the same rows instead of adding new ones.
    verify(service.db, service.cfg.store_root, since=since)
    with service.db.session() as s:
        assert len(list(s.scalars(select(Verification)))) == 7
        # Each recording's outcome is in its audit trail once, chained like any entry.
        verified = s.scalars(select(AuditEntry).where(AuditEntry.action == "verify")).all()
        assert sorted(e.recording_id for e in verified) == sorted(ids.values())
        assert audit.verify(s).ok

    toml = tmp_path / "service.toml"  # the node settings every storage command reads
    toml.write_text(
        f'[storage]\ndb_url = "{service.cfg.db_url}"\nstore_root = "{service.cfg.store_root}"\n'
        '[storage.upload]\ntype = "none"\n'
    )
    code = main(["verify", "--since", "2h", "--settings", str(toml)])
    out = capsys.readouterr().out
    assert code == 3
    assert "gap: call call-lost agent a3 campaign sales" in out
    assert "gap: call (never controlled)" in out and "verified" in out


def test_bad_since_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--since", "yesterday-ish"]) == 1
    assert "verify.bad_since" in capsys.readouterr().err


def test_a_stasis_bridge_names_its_call() -> None:
    """The Stasis app's bridge is "<call id>-b": the span knows the call without the registry."""
    truth = GroundTruth()
    call_id = "0123456789abcdef0123456789abcdef"
    extra = json.dumps({"bridge_id": f"{call_id}-b", "bridge_technology": "simple_bridge"})
    for t, name, uid in (
        (1.0, "BRIDGE_ENTER", f"{call_id}-c"),
        (1.1, "BRIDGE_ENTER", f"{call_id}-a1"),
        (5.1, "BRIDGE_EXIT", f"{call_id}-c"),
    ):
        chan = "Local/customer@x-1;1" if uid.endswith("-c") else "Local/agent@x-2;1"
        truth.feed(
            {"Event": "CEL", "EventName": name, "Timestamp": str(t), "UniqueID": uid,
             "LinkedID": uid, "Channel": chan, "Extra": extra}
        )  # fmt: skip
    for uid in (f"{call_id}-c", f"{call_id}-a1"):
        span = truth.spans[uid]
        assert span.call_id == call_id
        assert span.intervals == [(1.1, 5.1)]


async def test_a_span_asterisk_never_closed_uses_the_bridge_start(
    service: StorageService, tmp_path: Path
) -> None:
    """Asterisk died mid-call: its record has the bridge but no end; callrec's end is used."""
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    seg = make_segment(tmp_path, seconds=6.0, started_at=t0 + timedelta(seconds=1), call_id="c-x")
    await service.accept_segment(seg)
    naive = t0.astimezone(UTC).replace(tzinfo=None)
    save_span(
        service.db,
        SpanRecord("17.1", "n1", "c-x", naive, naive, None, None, {"intervals": []}),
    )
    report = verify(service.db, service.cfg.store_root, since=t0 - timedelta(minutes=1))
    assert report.counts == {"short": 1}  # 6 s captured of 7 s since Asterisk bridged them
    with service.db.session() as s:
        row = s.scalars(select(Verification)).one()
    assert row.expected_seconds == pytest.approx(7.0, abs=0.01)
    assert row.details["expected_from"] == "Asterisk CEL bridge start; end by callrec's clock"


async def test_periodic_run_reads_each_file_once_and_keeps_the_alert(
    service: StorageService, tmp_path: Path
) -> None:
    since = datetime.now(UTC) - timedelta(hours=1)
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    seg = make_segment(tmp_path, seconds=8.0, started_at=t0, call_id="c-short")
    seg = dataclasses.replace(seg, ended_at=t0 + timedelta(seconds=10.3))
    await service.accept_segment(seg)
    save_span(service.db, _span("c-short", t0, 10.0))
    first = verify(service.db, service.cfg.store_root, since=since, skip_settled=True)
    assert first.counts == {"short": 1}
    again = verify(service.db, service.cfg.store_root, since=since, skip_settled=True)
    assert again.counts == {}  # settled against Asterisk's span: not read again
    with service.db.session() as s:
        active = [a.code for a in s.scalars(select(Alert).where(Alert.cleared_at.is_(None)))]
    assert active == ["capture.gap"]  # the stored problem still holds the alert
