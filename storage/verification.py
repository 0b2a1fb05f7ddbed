"""Capture verification: every stored segment checked against what Asterisk logged.

The call paths judge a recording against their own clock, so a late event
hides lost audio. Here the measure is the call's bridged span from Asterisk's
own records (``call_spans``, filled from CEL by ``callrec serve``):

* a segment whose decision said record is checked against its files: present,
  a readable audio header, each track at least ``RATIO`` of the expected
  length, no hole inside a track (a run of digital silence where the party was
  heard on both sides: audio the capture did not get in time), and no captured
  track silent throughout. The expected length is the
  bridged time inside the segment's window: it opens at the bridge for an
  autostart first segment (else at the documented start) and closes at the
  unbridge when the segment ran to the hangup (else at the documented stop).
  Pauses write silence and stay inside the window.
* a call Asterisk bridged that callrec never controlled (no call id on its
  channels: app down, FastAGI unreachable, a route without callrec) or that
  callrec saw but stored nothing for, is a *gap*.

Outcomes are stored in ``verifications`` (one row per recording, or per gap),
re-checking is idempotent, and any gap or failed check raises the
``capture.gap`` alert. Storage knows no Asterisk: a span is plain times.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import wave
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select

from storage import audit
from storage.db import Database
from storage.lease import claim_job
from storage.models import (
    GAP,
    MISSING,
    NOT_RECORDED_BY_DECISION,
    SHORT,
    SILENT_LEG,
    VERIFIED,
    CallSpan,
    Recording,
    RecordingFile,
    Verification,
)
from storage.outbox import clear_alerts, raise_alert
from storage.timeutil import to_utc, utcnow

log = logging.getLogger("callrec.verification")

RATIO = 0.98  # a track shorter than this share of the expected length is short
SLACK_SECONDS = 0.1  # frame granularity of the capture and the events' timing
HANGUP_SLACK_SECONDS = 1.0  # a segment ending this close to the unbridge ran to the hangup
SILENCE_PEAK = 64  # 16-bit peak below which a 1 s window counts as silent
HOLE_SECONDS = 0.1  # a run of exact zero samples this long inside heard audio is a hole
HEARD_SECONDS = 0.5  # ... when the party is heard within this much on both sides of it
PAUSE_SLACK_SECONDS = 1.0  # a hole this close to a documented pause is the pause
ALERT_CODE = "capture.gap"
TRACK_KINDS = ("agent", "customer")
BAD = (SHORT, MISSING, SILENT_LEG, GAP)
SETTLED_FROM = "Asterisk CEL bridged span"  # an outcome measured against a complete span
OUTCOMES = (VERIFIED, SHORT, MISSING, SILENT_LEG, NOT_RECORDED_BY_DECISION, GAP)


@dataclass(frozen=True)
class SpanRecord:
    """A call's bridged span, as the ground-truth collector hands it over."""

    linkedid: str
    node: str
    call_id: str | None
    answered_at: datetime | None
    bridged_at: datetime | None
    unbridged_at: datetime | None
    ended_at: datetime | None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    outcome: str
    reason: str
    recording_id: str | None = None
    call_id: str | None = None
    linkedid: str | None = None
    agent: str | None = None
    campaign: str | None = None
    expected_seconds: float | None = None
    captured_seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[Outcome] = field(default_factory=list)  # every outcome in BAD


def save_span(db: Database, span: SpanRecord) -> None:
    """Insert or complete a span (events for one linkedid may arrive in pieces)."""
    with db.session() as s:
        row = s.get(CallSpan, span.linkedid)
        if row is None:
            s.add(
                CallSpan(
                    linkedid=span.linkedid,
                    node=span.node,
                    call_id=span.call_id,
                    answered_at=_naive(span.answered_at),
                    bridged_at=_naive(span.bridged_at),
                    unbridged_at=_naive(span.unbridged_at),
                    ended_at=_naive(span.ended_at),
                    details=dict(span.details),
                )
            )
            return
        row.call_id = row.call_id or span.call_id
        for name in ("answered_at", "unbridged_at", "ended_at"):
            value = _naive(getattr(span, name))
            if value is not None:
                setattr(row, name, value)
        bridged = _naive(span.bridged_at)
        if bridged is not None and (row.bridged_at is None or bridged < row.bridged_at):
            row.bridged_at = bridged  # the earliest start any collector saw
        old = dict(row.details or {})
        new = {k: v for k, v in span.details.items() if v not in (None, [], {})}
        merged = {**old, **new}
        if old.get("intervals") and not span.details.get("intervals"):
            merged["intervals"] = old["intervals"]
        row.details = merged


# -- checking one segment ------------------------------------------------------


@dataclass(frozen=True)
class Track:
    seconds: float | None  # None: no readable audio
    silent: bool
    problem: str | None = None
    holes: tuple[tuple[float, float], ...] = ()  # (seconds into the file, length)


def read_track(path: Path) -> Track:
    """Duration and silence of one captured track; a bad header is a problem, not a crash."""
    if not path.is_file():
        return Track(None, False, f"{path.name} is not on disk")
    try:
        if path.suffix.lower() == ".wav":
            with wave.open(str(path), "rb") as wav:
                rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
                frames = wav.readframes(wav.getnframes())
            if rate <= 0 or width != 2:
                return Track(None, False, f"{path.name}: unsupported WAV ({rate} Hz, {width} B)")
            samples = array("h", frames[: len(frames) // 2 * 2])
            return Track(
                len(samples) / (rate * channels),
                _silent(samples, rate * channels),
                holes=find_holes(samples, rate, channels),
            )
        from pydub import AudioSegment  # other stored formats go through ffmpeg

        audio = AudioSegment.from_file(path)
        pcm = audio.set_sample_width(2)
        samples = array("h", pcm.raw_data[: len(pcm.raw_data) // 2 * 2])
        return Track(
            len(audio) / 1000.0,
            _silent(samples, pcm.frame_rate * pcm.channels),
            holes=find_holes(samples, pcm.frame_rate, pcm.channels),
        )
    except (OSError, EOFError, wave.Error, ValueError) as exc:
        return Track(None, False, f"{path.name}: header not readable ({exc})")
    except Exception as exc:
        return Track(None, False, f"{path.name}: not decodable ({type(exc).__name__}: {exc})")


def _silent(samples: array[int], per_second: int) -> bool:
    """True when no one-second window rises above the silence threshold."""
    step = max(per_second, 1)
    for start in range(0, len(samples), step):
        window = samples[start : start + step]
        if window and max(max(window), -min(window)) >= SILENCE_PEAK:
            return False
    return True


def find_holes(
    samples: array[int], rate: int, channels: int = 1
) -> tuple[tuple[float, float], ...]:
    """Runs of exact digital silence inside a track where its party is heard just
    before and just after: (seconds into the file, length), merged over channels.

    A capture writes whole frames of zeros when the party's audio has not reached
    it in time (Asterisk's snoop does on every 20 ms tick the audiohook is short,
    MixMonitor for a direction that lags); a line with a person on it is never
    that quiet, so such a run inside speech is audio missing from the file, even
    when the file's length is right. A run at either end is not judged (nothing
    heard on that side), nor one with no audio above SILENCE_PEAK near it.
    """
    if rate <= 0 or channels <= 0:
        return ()
    found: list[tuple[float, float]] = []
    shortest = max(1, int(HOLE_SECONDS * rate))
    near = int(HEARD_SECONDS * rate)
    run = re.compile(rb"(?:\x00\x00){%d,}" % shortest)
    for channel in range(channels):
        mono = samples[channel::channels] if channels > 1 else samples
        data = mono.tobytes()
        for match in run.finditer(data):
            start = (match.start() + 1) // 2  # whole samples only
            end = match.end() // 2
            if end - start < shortest or start == 0 or end >= len(mono):
                continue
            before, after = mono[max(0, start - near) : start], mono[end : end + near]
            if _peak(before) >= SILENCE_PEAK and _peak(after) >= SILENCE_PEAK:
                found.append((start / rate, (end - start) / rate))
    return tuple(sorted(found))


def _peak(samples: array[int]) -> int:
    return max(max(samples), -min(samples)) if samples else 0


def _outside_pauses(
    holes: Iterable[tuple[float, float]], rec: Recording
) -> list[tuple[float, float]]:
    """The holes that are not a documented pause (a paused capture writes silence)."""
    spans = []
    for pause in rec.pauses or []:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            start = _instant(pause[0]) - _epoch(rec.started_at)
            end = _instant(pause[1]) - _epoch(rec.started_at) if pause[1] else float("inf")
            spans.append((start - PAUSE_SLACK_SECONDS, end + PAUSE_SLACK_SECONDS))
    return [(at, n) for at, n in holes if not any(a <= at and at + n <= b for a, b in spans)]


def _instant(value: str) -> float:
    """Epoch seconds of an ISO time (naive: UTC, as stored)."""
    moment = datetime.fromisoformat(value)
    return moment.timestamp() if moment.tzinfo else _epoch(moment)


def expected_window(
    rec: Recording, span: CallSpan, *, last_segment: bool
) -> tuple[datetime, datetime] | None:
    """The stretch of the call this segment should hold, by Asterisk's clock where it can."""
    if span.bridged_at is None:
        return None
    start = rec.started_at
    if rec.segment_no == 1 and bool((rec.decision or {}).get("autostart")):
        start = span.bridged_at
    start = max(start, span.bridged_at)
    end = rec.ended_at
    unbridged = span.unbridged_at or span.ended_at
    if unbridged is not None:
        ran_to_hangup = last_segment and end >= unbridged - timedelta(seconds=HANGUP_SLACK_SECONDS)
        end = unbridged if ran_to_hangup else min(end, unbridged)
    return (start, end) if end > start else None


def bridged_within(span: CallSpan, start: datetime, end: datetime) -> float:
    """Seconds of ``[start, end]`` during which Asterisk had the parties bridged."""
    intervals = (span.details or {}).get("intervals") or []
    if not intervals and span.bridged_at:  # only the ends are known (a collector restarted)
        until = min(end, span.unbridged_at) if span.unbridged_at else end
        return max(0.0, (until - max(start, span.bridged_at)).total_seconds())
    a, b = _epoch(start), _epoch(end)
    return sum(max(0.0, min(b, float(y)) - max(a, float(x))) for x, y in intervals)


def check_segment(
    rec: Recording,
    files: Iterable[RecordingFile],
    span: CallSpan | None,
    store_root: Path,
    *,
    last_segment: bool,
) -> Outcome:
    out = Outcome(
        "", "", rec.id, rec.call_id, span.linkedid if span else None, rec.agent, rec.campaign
    )
    legs = (rec.decision or {}).get("legs", rec.legs)
    if legs in (None, "none"):
        out.outcome, out.reason = NOT_RECORDED_BY_DECISION, "the decision said not to record"
        return out
    tracks = {f.kind: f for f in files if f.kind in TRACK_KINDS}
    wanted = ["agent", "customer"] if rec.legs == "both" else ["agent"]
    findings: dict[str, Any] = {}
    window = expected_window(rec, span, last_segment=last_segment) if span else None
    if span is None:
        expected = rec.bridged_seconds
        findings["expected_from"] = "callrec's own clock (no Asterisk record of this call)"
    elif window is None:
        expected = 0.0
        findings["expected_from"] = "Asterisk: no bridged time inside the segment"
    else:
        expected = bridged_within(span, *window)
        findings["expected_from"] = "Asterisk CEL bridged span"
        if span.unbridged_at is None and span.ended_at is None:
            # Asterisk died (or the CEL link was down) before it logged the end.
            findings["expected_from"] = "Asterisk CEL bridge start; end by callrec's clock"
        findings["window"] = [window[0].isoformat(), window[1].isoformat()]
    out.expected_seconds = round(expected, 3)
    missing, short, silent, captured = [], [], [], []
    holed: list[str] = []
    for kind in wanted:
        row = tracks.get(kind)
        if row is None or not row.present:
            missing.append(f"{kind} track not stored")
            continue
        track = read_track(store_root / row.path)
        findings[kind] = {"seconds": track.seconds, "silent": track.silent}
        if track.seconds is None:
            missing.append(track.problem or f"{kind} track unreadable")
            continue
        captured.append(track.seconds)
        ratio = track.seconds / expected if expected > 0 else 1.0
        findings[kind]["ratio"] = round(ratio, 4)
        if expected > 1.0 and track.seconds < RATIO * expected - SLACK_SECONDS:
            short.append(f"{kind} {track.seconds:.2f}s of {expected:.2f}s ({ratio:.1%})")
        holes = _outside_pauses(track.holes, rec)
        if holes:
            findings[kind]["audio_gaps"] = [[round(at, 2), round(n, 2)] for at, n in holes]
            holed.extend(f"audio_gap:{kind}:{at:.2f}s:{n:.2f}s" for at, n in holes)
        if track.silent and expected > 1.0:
            silent.append(f"{kind} track silent throughout {track.seconds:.1f}s")
    out.captured_seconds = round(min(captured), 3) if captured else None
    out.details = findings
    if missing:
        out.outcome, out.reason = MISSING, "; ".join(missing)
    elif short or holed:
        out.outcome = SHORT
        out.reason = "; ".join(
            [*(["short: " + "; ".join(short)] if short else []),
             *(["audio missing inside: " + " ".join(holed)] if holed else [])]
        )  # fmt: skip
    elif silent:
        out.outcome, out.reason = SILENT_LEG, "; ".join(silent)
    else:
        out.outcome = VERIFIED
        out.reason = f"{len(captured)} track(s) whole against {expected:.2f}s expected"
    return out


def gap_for(span: CallSpan) -> Outcome:
    """A bridged call with no recording: a gap, unless its decision said not to record."""
    details = span.details or {}
    decision = details.get("decision") or {}
    base = Outcome(
        GAP,
        "",
        None,
        span.call_id,
        span.linkedid,
        details.get("agent"),
        details.get("campaign"),
        expected_seconds=round(_span_seconds(span), 3),
        details={"route": details.get("route"), "channels": details.get("channels", {})},
    )
    route = details.get("route") or ""
    if route.startswith("agi-fallback-"):
        base.reason = (
            "Asterisk bridged the call but callrec's FastAGI decision failed "
            f"(unreachable or an error; dialplan fallback '{route[13:]}')"
        )
        return base
    if span.call_id is None:
        if route.startswith("fallback-"):
            base.reason = (
                "Asterisk bridged the call but the Stasis app was unavailable "
                f"(STASISSTATUS=FAILED, dialplan fallback '{route[9:]}')"
            )
        else:
            base.reason = "Asterisk bridged the call but callrec never controlled it"
        return base
    if decision and (decision.get("legs") == "none" or not decision.get("autostart")):
        base.outcome = NOT_RECORDED_BY_DECISION
        base.reason = "callrec controlled the call; its decision did not start a recording"
        return base
    base.reason = "callrec controlled the call but stored no recording of it"
    return base


# -- the run -------------------------------------------------------------------


def verify(
    db: Database,
    store_root: Path,
    *,
    since: datetime,
    node: str | None = None,
    skip_settled: bool = False,
) -> Report:
    """Check every recording and every finished span since ``since``; store the outcomes.

    ``skip_settled`` (the periodic run) leaves out recordings already checked
    against an Asterisk span, so each file is read once, not every period; one
    checked before its span arrived is checked again.
    """
    since = to_utc(since)
    report = Report()
    with db.session() as s:
        recs = list(
            s.scalars(
                select(Recording).where(
                    Recording.started_at >= since, Recording.deleted_at.is_(None)
                )
            )
        )
        if skip_settled and recs:
            settled = {
                v.recording_id
                for v in s.scalars(
                    select(Verification).where(Verification.recording_id.in_([r.id for r in recs]))
                )
                if str((v.details or {}).get("expected_from", "")).startswith(SETTLED_FROM)
            }
            recs = [r for r in recs if r.id not in settled]
        spans_q = select(CallSpan).where(
            or_(CallSpan.ended_at >= since, CallSpan.bridged_at >= since)
        )
        if node:
            spans_q = spans_q.where(CallSpan.node == node)
        spans = list(s.scalars(spans_q))
        call_ids = {r.call_id for r in recs} | {sp.call_id for sp in spans if sp.call_id}
        by_call: dict[str, CallSpan] = {}
        for sp in s.scalars(select(CallSpan).where(CallSpan.call_id.in_(call_ids))):
            # The span with the longest bridged time is the conversation.
            best = by_call.get(sp.call_id or "")
            if best is None or _span_seconds(sp) > _span_seconds(best):
                by_call[sp.call_id or ""] = sp
        last_no: dict[str, int] = {}
        for no, cid in s.execute(
            select(Recording.segment_no, Recording.call_id).where(Recording.call_id.in_(call_ids))
        ):
            last_no[cid] = max(no, last_no.get(cid, 0))
        files: dict[str, list[RecordingFile]] = {}
        for f in s.scalars(
            select(RecordingFile).where(RecordingFile.recording_id.in_([r.id for r in recs]))
        ):
            files.setdefault(f.recording_id, []).append(f)
        recorded_calls = set(last_no)
        outcomes = [
            check_segment(
                r,
                files.get(r.id, []),
                by_call.get(r.call_id),
                store_root,
                last_segment=r.segment_no == last_no.get(r.call_id, r.segment_no),
            )
            for r in recs
        ]
        outcomes += [
            gap_for(sp)
            for sp in spans
            if sp.bridged_at is not None
            and sp.ended_at is not None
            and (sp.call_id is None or sp.call_id not in recorded_calls)
            and _is_conversation(sp, by_call)
        ]
        now = utcnow()
        for out in outcomes:
            store_outcome(s, out, now)
            report.counts[out.outcome] += 1
            if out.outcome in BAD:
                report.problems.append(out)
        s.flush()
        # The alert follows every stored problem of the period, not only this run's.
        kinds = Counter(
            s.scalars(
                select(Verification.outcome).where(
                    Verification.outcome.in_(BAD), Verification.checked_at >= since
                )
            )
        )
        if kinds:
            summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            message = f"capture verification since {since:%Y-%m-%d %H:%M}: {summary}"
            raise_alert(s, ALERT_CODE, message)
        else:
            clear_alerts(s, ALERT_CODE)
    for p in report.problems:
        log.warning(
            "[%s] call %s recording %s agent %s: %s",
            p.outcome,
            p.call_id or "-",
            p.recording_id or "-",
            p.agent or "-",
            p.reason,
        )
    return report


def counts(db: Database) -> Counter[str]:
    """Stored outcomes by kind (for metrics)."""
    from sqlalchemy import func

    with db.session() as s:
        rows = s.execute(select(Verification.outcome, func.count()).group_by(Verification.outcome))
        return Counter({str(k): int(n) for k, n in rows})


def _is_conversation(span: CallSpan, by_call: dict[str, CallSpan]) -> bool:
    """One gap per call: a call's secondary linkedids (helper channels) are not reported."""
    if span.call_id is None:
        return True
    return by_call.get(span.call_id) is span


def store_outcome(s: Any, out: Outcome, now: datetime) -> None:
    """Keep one outcome (insert or update its row; audit it when it is new or changed)."""
    key = out.recording_id or f"gap:{out.linkedid}"
    vid = hashlib.sha256(key.encode()).hexdigest()[:32]
    row = s.get(Verification, vid)
    before = row.outcome if row is not None else None
    if row is None:
        row = Verification(id=vid, recording_id=out.recording_id)
        s.add(row)
    row.call_id = out.call_id
    row.linkedid = out.linkedid
    row.agent = out.agent
    row.campaign = out.campaign
    row.outcome = out.outcome
    row.reason = out.reason
    row.expected_seconds = out.expected_seconds
    row.captured_seconds = out.captured_seconds
    row.details = out.details
    row.checked_at = now
    if out.recording_id is not None and out.outcome != before:
        # The recording's own trail (and what recording.verified webhooks are
        # made from), chained like every audit entry.
        audit.write(s, "system", "verify", recording_id=out.recording_id, outcome=out.outcome)


def _span_seconds(span: CallSpan) -> float:
    intervals = (span.details or {}).get("intervals") or []
    if intervals:
        return float(sum(float(b) - float(a) for a, b in intervals))
    if span.bridged_at and span.unbridged_at:
        return (span.unbridged_at - span.bridged_at).total_seconds()
    return 0.0


def _epoch(value: datetime) -> float:
    from datetime import UTC

    return value.replace(tzinfo=UTC).timestamp()


def _naive(value: datetime | None) -> datetime | None:
    return to_utc(value) if value is not None else None


VERIFY_JOB = "verify:captures"


async def run_periodically(
    db: Database,
    store_root: Path,
    stop: asyncio.Event,
    *,
    owner: str,
    every: float = 300.0,
    lookback: timedelta = timedelta(hours=2),
    target: Any = None,
) -> None:
    """Verify the recent past (and re-check remote copies due a check) every ``every``
    seconds, on one node of the cluster at a time.

    The job's lease is held for the whole period and not released, so the
    other nodes skip the periods this node took (a dead node's lease expires).
    """
    while not stop.is_set():
        # First wait a period: a (re)starting node has calls to recover first.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        if stop.is_set():
            return
        try:
            with db.session() as s:
                mine = claim_job(s, VERIFY_JOB, owner, every * 0.9)
            if mine:
                since = utcnow() - lookback
                await asyncio.to_thread(verify, db, store_root, since=since, skip_settled=True)
                if target is not None:
                    await recheck_remote(db, target)
        except Exception:  # a database hiccup must not end the schedule
            log.exception("capture verification run failed; retrying next period")


# -- remote copies ---------------------------------------------------------------

REMOTE_ALERT = "capture.remote_mismatch"


@dataclass
class RemoteReport:
    checked: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)  # remote name, what is wrong
    unsupported: bool = False  # the target cannot read its copies back


async def recheck_remote(
    db: Database,
    target: Any,
    *,
    every: timedelta = timedelta(days=1),
    limit: int = 500,
) -> RemoteReport:
    """Read uploaded copies back (size and SHA-256) and compare with what was stored.

    Copies not checked within ``every`` are read, oldest check first. A copy
    that is absent or differs raises ``capture.remote_mismatch`` and is queued
    again (a differing copy is removed first, since an upload skips a copy of
    the right size); the recording's verification notes the result either way.
    """
    from storage.outbox import enqueue_upload

    report = RemoteReport()
    cutoff = utcnow() - every
    with db.session() as s:
        rows = list(
            s.execute(
                select(RecordingFile, Verification)
                .join(Recording, Recording.id == RecordingFile.recording_id)
                .join(Verification, Verification.recording_id == RecordingFile.recording_id)
                .where(
                    RecordingFile.uploaded_at.is_not(None),
                    Recording.deleted_at.is_(None),
                    or_(
                        Verification.remote_checked_at.is_(None),
                        Verification.remote_checked_at < cutoff,
                    ),
                )
                .order_by(Verification.remote_checked_at.is_not(None), RecordingFile.id)
                .limit(limit)
            ).all()
        )
        files = [
            (f.id, f.recording_id, f.remote_name, f.size_bytes, f.sha256, f.path) for f, _ in rows
        ]
    if not files:
        return report
    session = await target.open()
    try:
        fingerprint = getattr(session, "fingerprint", None)
        if fingerprint is None:
            report.unsupported = True
            return report
        results: dict[int, str | None] = {}
        for file_id, _rid, remote, size, sha, _path in files:
            got = await fingerprint(remote)
            report.checked += 1
            if got is None:
                results[file_id] = "absent"
            elif got[0] != size:
                results[file_id] = f"{got[0]} bytes, {size} stored"
            elif got[1] != sha:
                results[file_id] = "SHA-256 differs"
            else:
                results[file_id] = None
            if results[file_id] not in (None, "absent"):
                await session.delete(remote)  # else the re-upload would keep a copy this size
    finally:
        await session.close()
    now = utcnow()
    with db.session() as s:
        for file_id, rid, remote, size, sha, path in files:
            problem = results.get(file_id)
            row = s.scalars(select(Verification).where(Verification.recording_id == rid)).first()
            if row is not None:
                row.remote_checked_at = now
                remote_notes = dict((row.details or {}).get("remote") or {})
                remote_notes[remote] = problem or "ok"
                row.details = {**(row.details or {}), "remote": remote_notes}
            if problem is None:
                continue
            report.bad.append((remote, problem))
            enqueue_upload(
                s,
                recording_id=rid,
                file_id=file_id,
                local_path=path,
                remote_name=remote,
                size=size,
                sha256=sha,
            )
        if report.bad:
            summary = "; ".join(f"{name}: {why}" for name, why in report.bad[:5])
            raise_alert(s, REMOTE_ALERT, f"{len(report.bad)} remote copies wrong ({summary})")
        elif report.checked:
            clear_alerts(s, REMOTE_ALERT)
    for name, why in report.bad:
        log.error("[%s] remote copy %s: %s; queued again", REMOTE_ALERT, name, why)
    return report
