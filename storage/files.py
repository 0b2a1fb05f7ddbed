"""The local store: where accepted files live, named only from recording ids.

Names never contain caller data (numbers, caller id, agent names), so nothing
a caller controls reaches a path. Files are moved in (a rename when the call
path's directory is on the same file system), optionally transcoded, and
hashed as stored: the SHA-256 in the database is the hash of the bytes on disk
and on the platform, not of the capture.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from datetime import datetime
from pathlib import Path

from storage.errors import FileMissing, TranscodeFailed

EXTENSIONS = {"wav": "wav", "flac": "flac", "opus": "opus", "mp3": "mp3"}

# Recordings, call state and the database hold personal data: only the
# service's own user may read them, whatever umask it was started with.
FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700 (existing ones are left as they are)."""
    missing = []
    for part in (path, *path.parents):
        if part.exists():
            break
        missing.append(part)
    for part in reversed(missing):
        try:
            part.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        part.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def write_private(path: Path, data: str | bytes, *, sync: bool = False) -> None:
    """Write ``path`` atomically (temp file + rename), created 0600 from the start.

    The temp file's name is unique to this write: two writers of the same
    path (state saves from threads) never rename each other's file away.
    """
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(tmp, flags, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            if sync:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def make_private(path: Path) -> None:
    """0600 on a file someone else created (Asterisk's captures, ffmpeg's output)."""
    os.chmod(path, FILE_MODE, follow_symlinks=False)


def relative_path(recording_id: str, kind: str, fmt: str, started_at: datetime) -> str:
    if not recording_id.isalnum() or not kind.isalnum():
        raise ValueError("recording id and kind must be alphanumeric")
    return f"{started_at:%Y/%m/%d}/{recording_id}.{kind}.{EXTENSIONS[fmt]}"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def move_into_store(src: Path, dest: Path) -> None:
    """Move durably: after return the file is at ``dest`` and survives a power cut."""
    if not src.exists():
        raise FileMissing(f"recording file {src.name} does not exist")
    private_dir(dest.parent)
    try:
        os.replace(src, dest)
    except OSError:
        tmp = dest.with_name(dest.name + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            shutil.copyfileobj(inp, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
        src.unlink()
    make_private(dest)
    _fsync_dir(dest.parent)


def transcode(src: Path, fmt: str, *, opus_bitrate: str = "16k", mp3_bitrate: str = "32k") -> Path:
    """Encode ``src`` (WAV) next to itself and return the new path; ``src`` is kept."""
    if fmt == "wav":
        return src
    from pydub import AudioSegment  # imported lazily: loads ffmpeg probing

    dest = src.with_suffix("." + EXTENSIONS[fmt])
    tmp = dest.with_name(dest.name + ".part")
    try:
        audio = AudioSegment.from_wav(str(src))
        if fmt == "flac":
            audio.export(str(tmp), format="flac")
        elif fmt == "opus":
            audio.export(str(tmp), format="opus", codec="libopus", bitrate=opus_bitrate)
        elif fmt == "mp3":
            audio.export(str(tmp), format="mp3", bitrate=mp3_bitrate)
        else:  # pragma: no cover - config validation prevents it
            raise TranscodeFailed(f"unknown format {fmt}")
    except TranscodeFailed:
        raise
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        raise TranscodeFailed(f"{src.name} -> {fmt}: {exc}") from exc
    make_private(tmp)
    os.replace(tmp, dest)
    return dest


def remove_file(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
