"""Turn a FinishedSegment into a stored recording.

Order matters for "never lost": the files are checked (missing → error, the
call path keeps them), repaired if a crash left a 0-byte header, moved into
the store, transcoded and hashed; only then is one transaction committed with
the recording, its files, its matches, its outbox items and its audit entry.
If that transaction fails the files are moved back, so the caller can retry
with the same segment. Accepting a segment twice returns the first id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from storage import audit, crypto, files, matching
from storage.config import StorageConfig
from storage.db import Database
from storage.errors import FileMissing
from storage.models import PENDING, UNASSIGNED, Recording, RecordingFile
from storage.outbox import enqueue_upload
from storage.phones import to_e164
from storage.segment import FinishedSegment
from storage.timeutil import to_utc, utcnow
from storage.wavfix import repair_wav_header, wav_duration

log = logging.getLogger(__name__)

KIND_ORDER = ("stereo", "agent", "customer")
SHORT_CAPTURE_RATIO = 0.98


@dataclass
class _Placed:
    kind: str
    src: Path
    wav: Path
    final: Path
    rel: str
    size: int
    sha256: str


def _existing(db: Database, seg: FinishedSegment) -> str | None:
    with db.session() as s:
        rid = s.scalar(
            select(Recording.id).where(
                (Recording.id == seg.recording_id)
                | ((Recording.call_id == seg.call_id) & (Recording.segment_no == seg.segment_no))
            )
        )
    return rid


def ingest(db: Database, cfg: StorageConfig, seg: FinishedSegment, *, upload: bool) -> str:
    existing = _existing(db, seg)
    if existing is not None:
        log.info("segment %s/%s already stored as %s", seg.call_id, seg.segment_no, existing)
        return existing
    if not seg.files:
        raise FileMissing(f"segment {seg.call_id}/{seg.segment_no} has no files")
    flags = list(seg.flags)
    for kind, path in seg.files.items():
        if not kind.isalnum():
            raise ValueError(f"bad file kind {kind!r}")
        if not path.is_file():
            raise FileMissing(f"{kind} file of recording {seg.recording_id} is missing: {path}")
    for path in seg.files.values():
        if repair_wav_header(path) and "header_repaired" not in flags:
            log.warning("recording %s: WAV header repaired from file size", seg.recording_id)
            flags.append("header_repaired")
    main_kind = next((k for k in KIND_ORDER if k in seg.files), sorted(seg.files)[0])
    duration = wav_duration(seg.files[main_kind])
    short = seg.bridged_seconds > 0 and duration < SHORT_CAPTURE_RATIO * seg.bridged_seconds
    if short and "short_capture" not in flags:
        flags.append("short_capture")

    started = to_utc(seg.started_at)
    fmt = cfg.transcode
    sealed_to = crypto.recipients(cfg.encryption.recipients)
    placed: list[_Placed] = []
    try:
        for kind in sorted(seg.files, key=lambda k: (k not in KIND_ORDER, k)):
            src = seg.files[kind]
            wav_rel = files.relative_path(seg.recording_id, kind, "wav", started)
            wav = cfg.store_root / wav_rel
            files.move_into_store(src, wav)
            p = _Placed(kind, src, wav, wav, wav_rel, 0, "")
            placed.append(p)
            if fmt != "wav":
                p.final = files.transcode(
                    wav, fmt, opus_bitrate=cfg.opus_bitrate, mp3_bitrate=cfg.mp3_bitrate
                )
                p.rel = files.relative_path(seg.recording_id, kind, fmt, started)
            if sealed_to:  # the plaintext goes below, with the WAV (never uploaded)
                plain, p.final = p.final, crypto.encrypt_file(p.final, sealed_to)
                p.rel += crypto.SUFFIX
                if plain != p.wav:
                    plain.unlink()
            p.size = p.final.stat().st_size
            p.sha256 = files.sha256_file(p.final)
        rid = _commit(db, cfg, seg, placed, flags, duration, upload=upload)
    except BaseException:
        for p in placed:
            if p.final != p.wav:
                p.final.unlink(missing_ok=True)
            if p.wav.exists() and not p.src.exists():
                files.move_into_store(p.wav, p.src)
        raise
    for p in placed:
        if p.final != p.wav:
            p.wav.unlink(missing_ok=True)
    return rid


NUMBER_MAX = 64  # Recording.customer_number_raw
TEXT_MAX = 128  # call_id, agent, campaign, queue, lead_list


def _bounded(value: str | None, limit: int, name: str, flags: list[str]) -> Any:
    if value is None or len(value) <= limit:
        return value
    flags.append(f"{name}_truncated")
    return value[:limit]


def _commit(
    db: Database,
    cfg: StorageConfig,
    seg: FinishedSegment,
    placed: list[_Placed],
    flags: list[str],
    duration: float,
    *,
    upload: bool,
) -> str:
    number = seg.customer_number_raw
    if number is not None and len(number) > NUMBER_MAX:
        # A caller controls this; over-long, it would fail the insert (PostgreSQL
        # enforces the length) and the hand-off would retry forever.
        number = number[:NUMBER_MAX]
        flags.append("number_truncated")
    e164 = to_e164(number, cfg.default_region) if "number_truncated" not in flags else None
    if number and e164 is None:
        flags.append("number_invalid")
    texts = {
        k: _bounded(getattr(seg, k), TEXT_MAX, k, flags)
        for k in ("call_id", "agent", "campaign", "queue", "lead_list")
    }
    now = utcnow()
    with db.session() as s:
        s.add(
            Recording(
                id=seg.recording_id,
                call_id=texts["call_id"],
                segment_no=seg.segment_no,
                source=seg.source,
                direction=seg.direction,
                agent=texts["agent"],
                campaign=texts["campaign"],
                queue=texts["queue"],
                lead_list=texts["lead_list"],
                customer_number_raw=number,
                customer_e164=e164,
                started_at=to_utc(seg.started_at),
                ended_at=to_utc(seg.ended_at),
                duration_seconds=round(duration, 3),
                bridged_seconds=seg.bridged_seconds,
                legs=seg.legs,
                format=cfg.transcode,
                size_bytes=sum(p.size for p in placed),
                decision=dict(seg.decision),
                reasons=list(seg.reasons),
                flags=flags,
                pauses=[
                    [p.started_at.isoformat(), p.ended_at.isoformat() if p.ended_at else None]
                    for p in seg.pauses
                ],
                stored_state=UNASSIGNED,
                upload_state=PENDING if upload else "not_configured",
                legal_hold=False,
                created_at=now,
            )
        )
        s.flush()
        for p in placed:
            f = RecordingFile(
                recording_id=seg.recording_id,
                kind=p.kind,
                path=p.rel,
                format=cfg.transcode,
                size_bytes=p.size,
                sha256=p.sha256,
                remote_name=p.rel,
                present=True,
            )
            s.add(f)
            s.flush()
            if upload:
                enqueue_upload(
                    s,
                    recording_id=seg.recording_id,
                    file_id=f.id,
                    local_path=p.rel,
                    remote_name=p.rel,
                    size=p.size,
                    sha256=p.sha256,
                )
        audit.write(
            s,
            "system",
            "ingest",
            recording_id=seg.recording_id,
            call_id=texts["call_id"],
            segment_no=seg.segment_no,
            flags=flags,
        )
        if e164 is not None:
            matching.match_one(s, seg.recording_id, "system", "auto")
    return seg.recording_id
