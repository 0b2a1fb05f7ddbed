"""A recording's story: everything a QA reviewer asks about one recording,
read in one place (decision in words, segments of the call, pauses, flags,
capture verification, hashes, upload, its own audit trail).

Reads storage's tables directly (one short session in a thread); the caller
has already checked the user may see the recording (``get_recording``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from policy import Config
from policy import reasons as r
from policy.engine import Decision, decide
from policy.explain import deciding_rule, explain
from policy.facts import CallFacts
from storage.db import Database
from storage.matching import recording_trail
from storage.models import Recording, RecordingFile, Verification

LEGS_TEXT = {
    "both": "both sides (agent and customer)",
    "agent": "the agent's side only",
    "none": "nothing",
}
AUDIT_LIMIT = 200


def iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value is not None else None


@dataclass(frozen=True)
class Story:
    recording_id: str
    call_id: str
    decision: dict[str, Any]
    legs_text: str
    decided_by: str
    decided_by_text: str
    rules: list[dict[str, str]]
    explanation: str | None  # under the policy in force now, as `callrec explain` says
    decided_now: str | None  # what the policy in force now would decide, when different
    segments: list[dict[str, Any]]
    pauses: list[dict[str, Any]]
    flags: list[str]
    verification: dict[str, Any] | None
    files: list[dict[str, Any]]
    upload_state: str
    remote_verified_at: str | None
    audit: list[dict[str, Any]] | None  # None: the user may not read the audit log

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _decision(data: dict[str, Any], reasons: list[Any]) -> Decision | None:
    try:
        return Decision.from_dict({**data, "reasons": data.get("reasons", reasons)})
    except (KeyError, TypeError, ValueError):
        return None  # an older or partial decision: the rule ids alone still tell


def _explanation(
    policy: Config | None, rec: Recording, decision: Decision | None
) -> tuple[str | None, str | None]:
    """``callrec explain``'s words for the stored decision, and what the policy in
    force now would decide instead, if that differs (None when it agrees)."""
    if policy is None or decision is None:
        return None, None
    # The phase is not stored; the rules that fired tell it (a post-transfer mode rule).
    after_transfer = any(str(x).startswith("mode.post_transfer") for x in decision.reasons)
    facts = CallFacts(
        call_id=rec.call_id,
        phase="post_transfer" if after_transfer else "initial",
        continue_recording=r.TRANSFER_CONTINUE in decision.reasons,
        direction=rec.direction,  # type: ignore[arg-type]
        agent=rec.agent,
        campaign=rec.campaign,
        lead_list=rec.lead_list,
        queue=rec.queue,
        prospect_number=rec.customer_e164 or rec.customer_number_raw,
    )
    try:
        words = explain(policy, facts, decision)
        now = decide(policy, facts)
    except Exception:  # words are a help; the rule ids are shown anyway
        return None, None
    if (now.legs, now.mode, now.reasons) == (decision.legs, decision.mode, decision.reasons):
        return words, None
    return words, f"records {LEGS_TEXT[now.legs]}, mode {now.mode}, by {deciding_rule(now)}"


def _utc(text: Any) -> str | None:
    """Storage keeps pause times as ISO text (with an offset); say them in UTC like the rest."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return text
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return iso(value)


def _pauses(raw: list[Any]) -> list[dict[str, Any]]:
    return [
        {"started_at": _utc(item[0]), "ended_at": _utc(item[1])}
        for item in raw
        if isinstance(item, list | tuple) and len(item) == 2
    ]


def build(db: Database, recording_id: str, *, policy: Config | None, with_audit: bool) -> Story:
    """The story of a recording the caller may see (it exists: checked before)."""
    with db.session() as s:
        rec = s.get(Recording, recording_id)
        assert rec is not None, "checked by get_recording first"
        decision = _decision(dict(rec.decision), list(rec.reasons))
        rule = deciding_rule(decision) if decision else (rec.reasons or [""])[-1]
        segments = [
            {
                "id": other.id,
                "segment_no": other.segment_no,
                "agent": other.agent,
                "started_at": iso(other.started_at),
                "ended_at": iso(other.ended_at),
                "duration_seconds": other.duration_seconds,
                "legs": other.legs,
                "this": other.id == rec.id,
            }
            for other in s.scalars(
                select(Recording)
                .where(Recording.call_id == rec.call_id)
                .order_by(Recording.segment_no)
            )
        ]
        files = [
            {
                "kind": f.kind,
                "format": f.format,
                "size_bytes": f.size_bytes,
                "sha256": f.sha256,
                "uploaded_at": iso(f.uploaded_at),
                "present": f.present,
            }
            for f in s.scalars(
                select(RecordingFile)
                .where(RecordingFile.recording_id == rec.id)
                .order_by(RecordingFile.kind)
            )
        ]
        ver = s.scalar(select(Verification).where(Verification.recording_id == rec.id))
        verification = (
            {
                "outcome": ver.outcome,
                "reason": ver.reason,
                "expected_seconds": ver.expected_seconds,
                "captured_seconds": ver.captured_seconds,
                "checked_at": iso(ver.checked_at),
            }
            if ver is not None
            else None
        )
        words, now = _explanation(policy, rec, decision)
        trail = None
        if with_audit:
            trail = [
                {"at": iso(e.at), "actor": e.actor, "action": e.action, "detail": e.detail}
                for e in recording_trail(s, rec.id, limit=AUDIT_LIMIT)
            ]
        return Story(
            recording_id=rec.id,
            call_id=rec.call_id,
            decision=dict(rec.decision),
            legs_text=LEGS_TEXT.get(rec.legs, rec.legs),
            decided_by=rule,
            decided_by_text=r.DESCRIPTIONS.get(rule, ""),
            rules=[{"id": str(x), "text": r.DESCRIPTIONS.get(str(x), "")} for x in rec.reasons],
            explanation=words,
            decided_now=now,
            segments=segments,
            pauses=_pauses(list(rec.pauses)),
            flags=[str(f) for f in rec.flags],
            verification=verification,
            files=files,
            upload_state=rec.upload_state,
            remote_verified_at=iso(ver.remote_checked_at) if ver is not None else None,
            audit=trail,
        )
