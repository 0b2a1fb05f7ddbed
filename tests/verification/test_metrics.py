"""Verification outcomes reach /metrics (and a gap reaches the alert list)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from storage.models import Alert
from storage.verification import SpanRecord, save_span, verify
from tests.console.conftest import env  # noqa: F401 - the console test environment
from tests.console.support import Env


async def test_gap_is_a_metric_and_an_alert(env: Env) -> None:  # noqa: F811
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=3)
    save_span(
        env.storage.db,
        SpanRecord(
            linkedid="1796000000.7",
            node="n1",
            call_id=None,
            answered_at=start,
            bridged_at=start,
            unbridged_at=start + timedelta(seconds=30),
            ended_at=start + timedelta(seconds=31),
        ),
    )
    verify(env.storage.db, env.storage.cfg.store_root, since=start - timedelta(minutes=1))
    status, text = await env.call("GET", "/metrics", "metrics")
    assert status == 200
    values = {
        k: float(v)
        for k, v in (line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    }
    assert values['callrec_capture_verifications{outcome="gap"}'] == 1
    assert values['callrec_capture_verifications{outcome="verified"}'] == 0
    with env.storage.db.session() as s:
        codes = [a.code for a in s.scalars(select(Alert).where(Alert.cleared_at.is_(None)))]
    assert "capture.gap" in codes
