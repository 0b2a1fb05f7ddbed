"""Upload targets: where the outbox sends files.

Every target follows one protocol so the outbox can treat them alike and so a
retry is always safe:

1. if the final name exists with the expected size, the job is done already
   (a previous attempt renamed it and then crashed before recording success);
2. write to ``<final>.part`` (a fixed name: a retry overwrites the leftovers of
   a cut attempt instead of piling them up);
3. check the temporary file's size, rename it to the final name (atomic on
   POSIX and with the ``posix-rename@openssh.com`` SFTP extension), stat the
   final name and compare sizes again; optionally read it back and compare the
   SHA-256.

Remote names come from recording ids only.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from storage.errors import UploadError, UploadVerifyFailed


@dataclass(frozen=True)
class UploadJob:
    local_path: Path
    remote_name: str  # relative, e.g. "2024/05/01/<id>.stereo.wav"
    size: int
    sha256: str


class TargetSession(Protocol):
    async def upload(self, job: UploadJob) -> bool:
        """Make the file present remotely; False when it already was (nothing sent)."""
        ...

    async def delete(self, remote_name: str) -> None:
        """Remove the file and any leftover temporary; absent files are fine."""
        ...

    async def close(self) -> None: ...


class UploadTarget(Protocol):
    name: str

    async def open(self) -> TargetSession:
        """Connect; raises ``upload.hostkey_mismatch`` or ``upload.failed``."""
        ...


def _check_remote_name(name: str) -> None:
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise UploadError(f"refusing unsafe remote name {name!r}")


def _fingerprint(path: Path) -> tuple[int, str] | None:
    h, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
                size += len(block)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UploadError(f"read back {path.name}: {exc.strerror or exc}") from exc
    return size, h.hexdigest()


class LocalDirTarget:
    """A plain directory (the embedded demo's "platform", or an NFS mount)."""

    def __init__(self, root: Path, *, verify_hash: bool = False) -> None:
        self.root = root
        self.verify_hash = verify_hash
        self.name = f"local:{root}"

    async def open(self) -> TargetSession:
        return _LocalSession(self)


class _LocalSession:
    def __init__(self, target: LocalDirTarget) -> None:
        self.t = target

    async def upload(self, job: UploadJob) -> bool:
        return await asyncio.to_thread(self._upload, job)

    def _upload(self, job: UploadJob) -> bool:
        _check_remote_name(job.remote_name)
        final = self.t.root / job.remote_name
        try:
            # Same size is not the same file when verify_hash is on: compare the bytes.
            if final.stat().st_size == job.size and (
                not self.t.verify_hash
                or hashlib.sha256(final.read_bytes()).hexdigest() == job.sha256
            ):
                return False
        except FileNotFoundError:
            pass
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(final.name + ".part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with job.local_path.open("rb") as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            if tmp.stat().st_size != job.size:
                raise UploadVerifyFailed(f"{job.remote_name}: temporary file has the wrong size")
            os.replace(tmp, final)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise UploadError(f"{job.remote_name}: {exc.strerror or exc}") from exc
        size = final.stat().st_size
        if size != job.size:
            raise UploadVerifyFailed(f"{job.remote_name}: {size} bytes stored, {job.size} expected")
        if self.t.verify_hash:
            h = hashlib.sha256(final.read_bytes()).hexdigest()
            if h != job.sha256:
                raise UploadVerifyFailed(f"{job.remote_name}: SHA-256 differs after upload")
        return True

    async def fingerprint(self, remote_name: str) -> tuple[int, str] | None:
        """Size and SHA-256 of the stored copy; None when it is absent."""
        _check_remote_name(remote_name)
        return await asyncio.to_thread(_fingerprint, self.t.root / remote_name)

    async def delete(self, remote_name: str) -> None:
        _check_remote_name(remote_name)
        final = self.t.root / remote_name
        final.unlink(missing_ok=True)
        final.with_name(final.name + ".part").unlink(missing_ok=True)

    async def close(self) -> None:
        return None
