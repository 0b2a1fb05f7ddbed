"""A transferred call for the story and coverage views: two segments (agents
1001 then 1002) decided by the example policy, a pause, a flag, and a
verification row as the capture verification writes it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from policy import CallFacts, Config, decide, load_config
from storage.models import Verification
from storage.segment import FinishedSegment, Pause, new_recording_id
from storage.service import StorageService
from tests.console.support import write_wav

POLICY_FILE = Path(__file__).parents[2] / "examples" / "callrec.toml"
NUMBER = "+12125550123"  # New York: one-party consent


def example_policy() -> Config:
    return load_config(POLICY_FILE)


@dataclass
class TransferredCall:
    call_id: str
    first: str  # recording ids
    second: str
    started: datetime


def _segment(
    tmp: Path, policy: Config, call_id: str, no: int, agent: str, start: datetime, **kw: object
) -> FinishedSegment:
    phase = "initial" if no == 1 else "post_transfer"
    facts = CallFacts(
        call_id=call_id,
        direction="outbound",
        agent=agent,
        campaign="collections",
        lead_list="2001",
        prospect_number=NUMBER,
        phase=phase,  # type: ignore[arg-type]
        continue_recording=no > 1,
    )
    decision = decide(policy, facts)
    rid = new_recording_id()
    src = tmp / "capture" / rid
    return FinishedSegment(
        recording_id=rid,
        call_id=call_id,
        segment_no=no,
        source="ari",
        direction="outbound",
        agent=agent,
        campaign="collections",
        queue=None,
        lead_list="2001",
        customer_number_raw=NUMBER,
        started_at=start,
        ended_at=start + timedelta(seconds=40),
        legs=decision.legs,
        files={
            "agent": write_wav(src / "a.wav"),
            "customer": write_wav(src / "c.wav"),
            "stereo": write_wav(src / "s.wav", channels=2),
        },
        decision=decision.to_dict(),
        reasons=decision.reasons,
        bridged_seconds=40,
        **kw,  # type: ignore[arg-type]
    )


async def transferred_call(
    svc: StorageService, tmp: Path, policy: Config, *, minutes_ago: int = 30
) -> TransferredCall:
    call_id = uuid.uuid4().hex
    t0 = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).replace(microsecond=0)
    pause = Pause(t0 + timedelta(seconds=10), t0 + timedelta(seconds=18))
    first = await svc.accept_segment(
        _segment(tmp, policy, call_id, 1, "1001", t0, pauses=(pause,), flags=("dtmf_toggled",))
    )
    second = await svc.accept_segment(
        _segment(tmp, policy, call_id, 2, "1002", t0 + timedelta(seconds=45))
    )
    return TransferredCall(call_id, first, second, t0)


def add_verification(
    svc: StorageService, recording_id: str | None, outcome: str, **kw: object
) -> None:
    """A row as the capture verification writes it (its own engineer owns the writer)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with svc.db.session() as s:
        s.add(
            Verification(
                id=uuid.uuid4().hex,
                recording_id=recording_id,
                call_id=kw.get("call_id"),
                linkedid=None,
                agent=kw.get("agent"),
                campaign=kw.get("campaign"),
                outcome=outcome,
                reason=str(kw.get("reason", "audio matches CEL bridge time")),
                expected_seconds=40.0,
                captured_seconds=39.6,
                details={},
                checked_at=kw.get("checked_at", now),
                remote_checked_at=kw.get("remote_checked_at"),
            )
        )
