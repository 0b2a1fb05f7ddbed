"""SFTP upload target (asyncssh) following the protocol in ``storage.targets``.

Host keys are always checked against a known_hosts file: the constructor
refuses to run without one, and an unknown or changed key surfaces as
``upload.hostkey_mismatch`` so the outbox can stop and alert instead of
retrying into a possible man in the middle. Only key authentication is
supported, so there is no password to leak into a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from pathlib import Path

import asyncssh
from asyncssh.kex import get_kex_algs
from asyncssh.mac import get_mac_algs
from asyncssh.public_key import get_certificate_algs, get_public_key_algs

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

# No SHA-1 anywhere (collision attacks; OpenSSH retired it): key exchange, host
# key signatures and MACs are SHA-2 (or better) only, best first. An upload
# target that offers only SHA-1 is refused at connect.
KEX_ALGS = (
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
)
SIGNATURE_ALGS = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
)
HOST_KEY_ALGS = (
    *(f"{a}-cert-v01@openssh.com" for a in SIGNATURE_ALGS),
    *SIGNATURE_ALGS,
)
MAC_ALGS = (
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
)


def _supported(wanted: tuple[str, ...], available: list[bytes]) -> list[str]:
    have = {a.decode() for a in available}
    return [a for a in wanted if a in have]


# Writes kept in flight per file. OpenSSH grants a 2 MiB channel window, so
# eight writes of its 255 KiB maximum fill it; more only queue in the client
# (costing CPU and memory) without sending anything sooner.
DEFAULT_MAX_REQUESTS = 8


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
                kex_algs=_supported(KEX_ALGS, get_kex_algs()),
                server_host_key_algs=_supported(
                    HOST_KEY_ALGS, [*get_certificate_algs(), *get_public_key_algs()]
                ),
                signature_algs=_supported(SIGNATURE_ALGS, get_public_key_algs()),
                mac_algs=_supported(MAC_ALGS, get_mac_algs()),
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


def _raise_first(done: set[asyncio.Future[int]]) -> None:
    """Raise the first failure among finished writes (every one is retrieved)."""
    errors = [e for f in done if not f.cancelled() and (e := f.exception()) is not None]
    if errors:
        raise errors[0]


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

    async def _sha256(self, path: str) -> str:
        h = hashlib.sha256()
        async with self.sftp.open(path, "rb", encoding=None) as fh:
            while block := await fh.read(1 << 20):
                h.update(block if isinstance(block, bytes) else block.encode())
        return h.hexdigest()

    async def upload(self, job: UploadJob) -> bool:
        final = self._path(job.remote_name)
        tmp = final + ".part"
        try:
            if await self._size(final) == job.size:
                # Same size is not the same file: with verify_hash on, only the
                # same bytes count as already uploaded; anything else is replaced.
                if not self.t.verify_hash or await self._sha256(final) == job.sha256:
                    return False
                log.warning("%s: a different file of the same size was there; replacing it",
                            job.remote_name)  # fmt: skip
            await self._send(job.local_path, tmp, final.rsplit("/", 1)[0])
            if await self._size(tmp) != job.size:
                raise UploadVerifyFailed(f"{job.remote_name}: temporary file has the wrong size")
            await self.sftp.posix_rename(tmp, final)
            size = await self._size(final)
            if size != job.size:
                raise UploadVerifyFailed(
                    f"{job.remote_name}: {size} bytes stored, {job.size} expected"
                )
            if self.t.verify_hash and await self._sha256(final) != job.sha256:
                raise UploadVerifyFailed(f"{job.remote_name}: SHA-256 differs after upload")
        except UploadError:
            await self._discard(tmp)
            raise
        except (OSError, asyncssh.Error) as exc:
            await self._discard(tmp)
            raise UploadError(f"{job.remote_name}: {_reason(exc)}") from exc
        return True

    async def _open_tmp(self, tmp: str, parent: str) -> asyncssh.SFTPClientFile:
        """Open ``tmp`` for writing, creating its directory only when it is missing.

        The day directory almost always exists already, so the open is tried
        first: creating it up front costs two round trips per path component on
        every file, which dominates small uploads over a long link.
        """
        try:
            return await self.sftp.open(tmp, "wb", encoding=None, block_size=0)
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPNoSuchPath):
            await self.sftp.makedirs(parent, exist_ok=True)
            return await self.sftp.open(tmp, "wb", encoding=None, block_size=0)

    async def _send(self, local: Path, tmp: str, parent: str) -> None:
        """Copy ``local`` to ``tmp`` with a bounded number of writes in flight.

        One write request per block (at most what the server accepts), at
        most ``max_requests`` outstanding; the local file is read sequentially.
        Any failed write cancels the rest and is raised.
        """
        block = self.t.block_size or self.sftp.limits.max_write_len
        depth = self.t.max_requests or DEFAULT_MAX_REQUESTS
        fh = await self._open_tmp(tmp, parent)
        pending: set[asyncio.Future[int]] = set()
        try:
            with local.open("rb", buffering=0) as src:
                offset = 0
                while data := src.read(block):
                    while len(pending) >= depth:
                        done, pending = await asyncio.wait(
                            pending, return_when=asyncio.FIRST_COMPLETED
                        )
                        _raise_first(done)
                    pending.add(asyncio.ensure_future(fh.write(data, offset)))
                    offset += len(data)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                _raise_first(done)
        except BaseException:
            for fut in pending:
                fut.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            with contextlib.suppress(OSError, asyncssh.Error):
                await fh.close()
            raise
        await fh.close()

    async def _discard(self, tmp: str) -> None:
        """Best effort: a dead connection leaves the .part for the retry to overwrite."""
        with contextlib.suppress(OSError, asyncssh.Error):
            await self.sftp.remove(tmp)

    async def fingerprint(self, remote_name: str) -> tuple[int, str] | None:
        """Size and SHA-256 of the stored copy (read back whole); None when it is absent."""
        final = self._path(remote_name)
        try:
            h, size = hashlib.sha256(), 0
            async with self.sftp.open(final, "rb", encoding=None) as fh:
                while block := await fh.read(1 << 20):
                    data = block if isinstance(block, bytes) else block.encode()
                    h.update(data)
                    size += len(data)
        except asyncssh.SFTPNoSuchFile:
            return None
        except (OSError, asyncssh.Error) as exc:
            raise UploadError(f"read back {remote_name}: {_reason(exc)}") from exc
        return size, h.hexdigest()

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
