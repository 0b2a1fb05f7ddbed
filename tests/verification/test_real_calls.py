"""On the real sandbox Asterisk: Asterisk's CEL says what was bridged; broken calls are gaps.

Three calls: one recorded whole by the Stasis app, one recorded whose stored
customer track is then removed, and one over a dialplan route with no callrec
on it. ``verify`` must find the second and third from Asterisk's own record.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ari_app.client import AriClient
from callcore.ami import AmiAddress
from callrec.cli import main
from callrec.sandbox import Instance
from callrec.truth_collector import TruthCollector
from storage.config import StorageConfig, UploadTargetConfig
from storage.models import CallSpan, Recording, RecordingFile, Verification
from storage.service import StorageService
from storage.verification import verify
from tests.ari.harness import Stack
from tests.support.wait import wait_for

pytestmark = pytest.mark.asterisk


async def _originate(
    inst: Instance, channel: str, context: str, exten: str, variables: dict[str, str] | None = None
) -> None:
    """A call into the dialplan, placed through ARI: the service's AMI user may
    not originate (least privilege), the test's ARI user may."""
    async with AriClient(inst.ari_url, inst.ari_user, inst.ari_password, "other") as ari:
        await ari.originate(
            channel, extension=exten, context=context, priority=1, variables=variables
        )


def _spans(stack: Stack) -> list[CallSpan]:
    with stack.storage.db.session() as s:
        return list(s.scalars(select(CallSpan)))


async def test_removed_file_and_unrecorded_route_are_reported(
    stack: Stack, asterisk: Instance, capsys: pytest.CaptureFixture[str]
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    address = AmiAddress("127.0.0.1", asterisk.ports.ami, asterisk.ami_user, asterisk.ami_secret)
    collector = TruthCollector(address, stack.storage.db, stack.registry, flush_delay=0.3)
    await collector.start()
    try:
        good = await stack.place("auto")
        broken = await stack.place("auto")
        await _originate(  # plain dialplan: no callrec on this route
            asterisk, "Local/customer@callrec-sim/n", "callrec-sim-mixmonitor", "s"
        )
        await asyncio.sleep(4)
        await stack.hangup(good)
        await stack.hangup(broken)
        asterisk.cli("channel request hangup all")

        def spans_in() -> bool:
            spans = _spans(stack)
            plain = [s for s in spans if s.call_id is None and s.bridged_at and s.ended_at]
            ended = {s.call_id for s in spans if s.ended_at is not None}
            return {good.call_id, broken.call_id} <= ended and bool(plain)

        await wait_for(spans_in, 20, "Asterisk's spans of the three calls")
    finally:
        await collector.stop()

    with stack.storage.db.session() as s:
        rec_good = s.scalars(select(Recording).where(Recording.call_id == good.call_id)).one()
        rec_broken = s.scalars(select(Recording).where(Recording.call_id == broken.call_id)).one()
        customer = s.scalars(
            select(RecordingFile).where(
                RecordingFile.recording_id == rec_broken.id, RecordingFile.kind == "customer"
            )
        ).one()
        bridged = {
            sp.call_id: (sp.unbridged_at - sp.bridged_at).total_seconds()
            for sp in s.scalars(select(CallSpan).where(CallSpan.call_id == good.call_id))
            if sp.bridged_at and sp.unbridged_at
        }
    (stack.storage.cfg.store_root / customer.path).unlink()

    report = verify(stack.storage.db, stack.storage.cfg.store_root, since=since)

    with stack.storage.db.session() as s:
        rows = {v.recording_id: v for v in s.scalars(select(Verification))}
    ok = rows[rec_good.id]
    # The good call is judged against Asterisk's bridged time, not callrec's clock.
    assert ok.details["expected_from"] == "Asterisk CEL bridged span"
    assert ok.expected_seconds == pytest.approx(bridged[good.call_id], abs=0.5)
    assert ok.expected_seconds is not None and 3.0 < ok.expected_seconds < 8.0
    assert ok.outcome in ("verified", "short"), ok.reason  # short only with figures saying so
    if ok.outcome == "short":
        assert "%" in ok.reason and ok.captured_seconds is not None
    bad = rows[rec_broken.id]
    assert bad.outcome == "missing" and "customer" in bad.reason
    gaps = [p for p in report.problems if p.outcome == "gap"]
    assert len(gaps) == 1 and gaps[0].call_id is None
    assert "never controlled" in gaps[0].reason
    assert gaps[0].expected_seconds is not None and gaps[0].expected_seconds > 3.0
    assert report.counts["missing"] == 1

    # The operator's view: `callrec verify` prints both problems with who and why.
    cfg = stack.storage.cfg
    toml = stack.tmp / "service.toml"  # the node settings every storage command reads
    toml.write_text(
        f'[storage]\ndb_url = "{cfg.db_url}"\nstore_root = "{cfg.store_root}"\n'
        '[storage.upload]\ntype = "none"\n'
    )
    assert main(["verify", "--since", "1h", "--settings", str(toml)]) == 3
    out = capsys.readouterr().out
    assert f"missing: call {broken.call_id} agent a1 campaign auto recording {rec_broken.id}" in out
    assert "gap: call (never controlled) agent - campaign -" in out


async def test_fastagi_unreachable_is_a_gap(own_asterisk: Instance, tmp_path: Path) -> None:
    """A dialplan call whose FastAGI decision fails (nothing listens) runs the fallback: a gap."""
    asterisk = own_asterisk  # its own: nothing listens on that one's FastAGI port
    since = datetime.now(UTC) - timedelta(seconds=5)
    storage = StorageService.open(
        StorageConfig(
            db_url=f"sqlite:///{tmp_path / 'callrec.db'}",
            store_root=tmp_path / "store",
            upload=UploadTargetConfig(type="none"),
        )
    )
    address = AmiAddress("127.0.0.1", asterisk.ports.ami, asterisk.ami_user, asterisk.ami_secret)
    collector = TruthCollector(address, storage.db, None, flush_delay=0.3)
    await collector.start()
    try:
        await _originate(
            asterisk,
            "Local/customer@callrec-sim/n",
            "callrec-agi-test",
            "dial",
            {"__CALLREC_AGENT": "1001"},
        )
        await asyncio.sleep(3)
        asterisk.cli("channel request hangup all")

        def fallback_span() -> list[CallSpan]:
            with storage.db.session() as s:
                spans = list(s.scalars(select(CallSpan).where(CallSpan.ended_at.is_not(None))))
            routes = [((sp.details or {}).get("route") or "", sp) for sp in spans]
            return [sp for route, sp in routes if route.startswith("agi-")]

        [span] = await wait_for(fallback_span, 20, "the fallback call's span")
        assert span.call_id  # the dialplan gave the call its id before asking callrec
        report = verify(storage.db, storage.cfg.store_root, since=since)
        gaps = [p for p in report.problems if p.outcome == "gap"]
        assert len(gaps) == 1 and gaps[0].call_id == span.call_id
        assert "FastAGI decision failed" in gaps[0].reason and "'agent'" in gaps[0].reason
    finally:
        await collector.stop()
        storage.close()
