"""SFTP uploads: no SHA-1 in key exchange, host key or MAC (a real sshd offering
only SHA-1 is refused), and a same-size remote file is not taken as uploaded
when verify_hash is on."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from storage.errors import UploadError
from storage.outbox import build_target
from storage.targets import UploadJob
from tests.storage.conftest import sftp_upload_config
from tests.support.sshd import Sshd

pytestmark = pytest.mark.sshd


def _job(tmp_path: Path, data: bytes) -> UploadJob:
    local = tmp_path / "local.wav"
    local.write_bytes(data)
    return UploadJob(local, "2026/01/01/r.stereo.wav", len(data), hashlib.sha256(data).hexdigest())


async def _connect(server: Sshd, tmp_path: Path, **kw: object) -> None:
    target = build_target(sftp_upload_config(server, tmp_path / "remote", **kw))
    assert target is not None
    session = await target.open()
    await session.close()


@pytest.mark.parametrize(
    "only_sha1",
    [
        "KexAlgorithms diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1",
        "Ciphers aes128-ctr\nMACs hmac-sha1,hmac-sha1-etm@openssh.com",
        "HostKeyAlgorithms ssh-rsa",
    ],
)
async def test_a_server_offering_only_sha1_is_refused(tmp_path: Path, only_sha1: str) -> None:
    server = Sshd(tmp_path / "sshd")
    if "HostKeyAlgorithms" in only_sha1:
        rsa = server.dir / "ssh_host_rsa_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(rsa)],
                       check=True, stdin=subprocess.DEVNULL)  # fmt: skip
        only_sha1 = f"HostKey {rsa}\n{only_sha1}"
        server.write_known_hosts(rsa)
    server.config.write_text(server.config.read_text() + only_sha1 + "\n")
    server.start()
    try:
        with pytest.raises(UploadError):
            await _connect(server, tmp_path)
    finally:
        server.stop()


async def test_a_modern_server_is_accepted(sshd: Sshd, tmp_path: Path) -> None:
    await _connect(sshd, tmp_path)


async def test_same_size_remote_file_is_checked_by_hash(sshd: Sshd, tmp_path: Path) -> None:
    remote = tmp_path / "remote"
    target = build_target(sftp_upload_config(sshd, remote, verify_hash=True))
    assert target is not None
    job = _job(tmp_path, b"RIFF" + b"\x01" * 4000)
    planted = remote / job.remote_name
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"RIFF" + b"\x00" * 4000)  # same size, other bytes
    session = await target.open()
    try:
        assert await session.upload(job) is True  # replaced, not skipped
        assert planted.read_bytes() == job.local_path.read_bytes()
        assert await session.upload(job) is False  # now truly there: skipped
    finally:
        await session.close()
