"""SFTP upload target (asyncssh) following the protocol in ``storage.targets``.

Host keys are always checked against a known_hosts file: the constructor
refuses to run without one, and an unknown or changed key surfaces as
``upload.hostkey_mismatch`` so the outbox can stop and alert instead of
retrying into a possible man in the middle. Only key authentication is
supported, so there is no password to leak into a log.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path

import asyncssh

from storage.errors import ConfigInvalid, HostKeyMismatch, UploadError, UploadVerifyFailed
from storage.targets import TargetSession, UploadJob, _check_remote_name

log = logging.getLogger(__name__)

CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)


class SftpTarget:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        key_file: Path,
        known_hosts: Path,
        remote_dir: str = ".",
        verify_hash: bool = False,
        block_size: int | None = None,
        max_requests: int | None = None,
        connect_timeout: float = 15.0,
    ) -> None:
        if not known_hosts:
            raise ConfigInvalid("SFTP upload needs a known_hosts file; host keys are never skipped")
        self.host, self.port, self.user = host, port, user
        self.key_file, self.known_hosts = key_file, known_hosts
        self.remote_dir = remote_dir.rstrip("/") or "/"
        self.verify_hash = verify_hash
        self.block_size, self.max_requests = block_size, max_requests
        self.connect_timeout = connect_timeout
        self.name = f"sftp://{user}@{host}:{port}{'/' if remote_dir.startswith('/') else '/~/'}"

    async def open(self) -> TargetSession:
        if not self.known_hosts.is_file():
            raise HostKeyMismatch(f"known_hosts file {self.known_hosts} does not exist")
        try:
            conn = await asyncssh.connect(
                self.host,
                self.port,
                username=self.user,
                client_keys=[str(self.key_file)],
                known_hosts=str(self.known_hosts),
                agent_path=None,
                password=None,
                connect_timeout=self.connect_timeout,
                # Throughput: AES-GCM runs on AES-NI through OpenSSL and is far
                # cheaper per byte here than ChaCha20-Poly1305; audio does not
                # compress, so compression is off.
                encryption_algs=list(CIPHERS),
                compression_algs=None,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            raise HostKeyMismatch(
                f"host key of {self.host}:{self.port} is not the one in {self.known_hosts}: "
                f"{exc.reason}"
            ) from exc
        except (OSError, asyncssh.Error, TimeoutError) as exc:
            raise UploadError(f"cannot connect to {self.host}:{self.port}: {_reason(exc)}") from exc
        try:
            sftp = await conn.start_sftp_client()
        except (OSError, asyncssh.Error) as exc:
            conn.close()
            raise UploadError(f"SFTP subsystem refused: {_reason(exc)}") from exc
        return _SftpSession(self, conn, sftp)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.Error):
        return exc.reason or type(exc).__name__
    return str(exc) or type(exc).__name__


class _SftpSession:
    def __init__(
        self, target: SftpTarget, conn: asyncssh.SSHClientConnection, sftp: asyncssh.SFTPClient
    ) -> None:
        self.t, self.conn, self.sftp = target, conn, sftp

    def _path(self, name: str) -> str:
        _check_remote_name(name)
        return f"{self.t.remote_dir}/{name}"

    async def _size(self, path: str) -> int | None:
        try:
            attrs = await self.sftp.stat(path)
        except asyncssh.SFTPNoSuchFile:
            return None
        return attrs.size

    async def upload(self, job: UploadJob) -> bool:
        final = self._path(job.remote_name)
        tmp = final + ".part"
        try:
            if await self._size(final) == job.size:
                return False
            parent = final.rsplit("/", 1)[0]
            await self.sftp.makedirs(parent, exist_ok=True)
            await self.sftp.put(
                str(job.local_path),
                tmp,
                block_size=self.t.block_size or -1,
                max_requests=self.t.max_requests or -1,
            )
            if await self._size(tmp) != job.size:
                raise UploadVerifyFailed(f"{job.remote_name}: temporary file has the wrong size")
            await self.sftp.posix_rename(tmp, final)
            size = await self._size(final)
            if size != job.size:
                raise UploadVerifyFailed(
                    f"{job.remote_name}: {size} bytes stored, {job.size} expected"
                )
            if self.t.verify_hash:
                h = hashlib.sha256()
                async with self.sftp.open(final, "rb") as fh:
                    while block := await fh.read(1 << 20):
                        h.update(block if isinstance(block, bytes) else block.encode())
                if h.hexdigest() != job.sha256:
                    raise UploadVerifyFailed(f"{job.remote_name}: SHA-256 differs after upload")
        except UploadError:
            await self._discard(tmp)
            raise
        except (OSError, asyncssh.Error) as exc:
            await self._discard(tmp)
            raise UploadError(f"{job.remote_name}: {_reason(exc)}") from exc
        return True

    async def _discard(self, tmp: str) -> None:
        """Best effort: a dead connection leaves the .part for the retry to overwrite."""
        with contextlib.suppress(OSError, asyncssh.Error):
            await self.sftp.remove(tmp)

    async def delete(self, remote_name: str) -> None:
        final = self._path(remote_name)
        for path in (final, final + ".part"):
            try:
                await self.sftp.remove(path)
            except asyncssh.SFTPNoSuchFile:
                pass
            except (OSError, asyncssh.Error) as exc:
                raise UploadError(f"delete {remote_name}: {_reason(exc)}") from exc

    async def close(self) -> None:
        self.sftp.exit()
        self.conn.close()
        with contextlib.suppress(OSError, asyncssh.Error):
            await self.conn.wait_closed()
