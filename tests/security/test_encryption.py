"""Encryption at rest: stored and uploaded files are age ciphertext to the admins' keys.

Unreadable without a private key (a node without one refuses to play; a wrong
key opens nothing), playable with it (the tone written is heard in what is
played back), and the SHA-256 kept is of the stored bytes, checked on play.
"""

from __future__ import annotations

import hashlib
import math
import struct
import wave
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from pyrage import x25519

from callcore.registry import CallRegistry
from console.app import build_app
from console.users import UserStore, hash_password
from storage import crypto
from storage.config import EncryptionConfig, StorageConfig, UploadTargetConfig
from storage.models import RecordingFile
from storage.service import StorageService
from tests.console.support import basic
from tests.storage.conftest import make_segment
from tests.support.audio import tone_levels

TONE = 700.0


def _sine(path: Path, seconds: float = 1.5, rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for n in range(int(seconds * rate)):
            v = int(12000 * math.sin(2 * math.pi * TONE * n / rate))
            frames += struct.pack("<hh", v, v)
        w.writeframes(bytes(frames))


def _service(tmp_path: Path, name: str, enc: EncryptionConfig) -> StorageService:
    return StorageService.open(
        StorageConfig(
            db_url=f"sqlite:///{tmp_path / 'callrec.db'}",
            store_root=tmp_path / "store",
            upload=UploadTargetConfig(type="local", local_dir=tmp_path / "remote"),
            encryption=enc,
        )
    )


async def _play(svc: StorageService, rid: str) -> tuple[int, bytes]:
    users = UserStore.from_dict(
        {
            "roles": {"admin": {"permissions": ["admin"]}},
            "users": {"admin": {"password_hash": hash_password("admin-pw-12"), "roles": ["admin"]}},
        }
    )
    client = TestClient(TestServer(build_app(CallRegistry(), storage=svc, users=users)))
    await client.start_server()
    try:
        async with client.get(
            f"/api/recordings/{rid}/play?kind=stereo", headers=basic("admin", "admin-pw-12")
        ) as resp:
            return resp.status, await resp.read()
    finally:
        await client.close()


async def test_encrypted_at_rest_unreadable_without_key_playable_with_it(tmp_path: Path) -> None:
    admin = x25519.Identity.generate()
    other = x25519.Identity.generate()
    key_file = tmp_path / "admin.key"
    key_file.write_text(f"# the admin's age key\n{admin}\n")
    (tmp_path / "other.key").write_text(f"{other}\n")
    recipients = (str(admin.to_public()),)

    writer = _service(tmp_path, "writer", EncryptionConfig(recipients=recipients))
    try:
        seg = make_segment(tmp_path)
        _sine(seg.files["stereo"])
        rid = await writer.accept_segment(seg)
        await writer.drain_outbox()
        stored = sorted(p for p in (tmp_path / "store").rglob("*") if p.is_file())
        remote = sorted(p for p in (tmp_path / "remote").rglob("*") if p.is_file())
        assert len(stored) == 3 and len(remote) == 3
        for path in (*stored, *remote):
            data = path.read_bytes()
            assert path.name.endswith(".wav.age"), path
            assert data.startswith(b"age-encryption.org/v1\n-> X25519 ")
            assert b"RIFF" not in data and b"WAVE" not in data
        with writer.db.session() as s:
            for f in s.query(RecordingFile).filter_by(recording_id=rid):
                assert f.path.endswith(".age")
                on_disk = (tmp_path / "store" / f.path).read_bytes()
                assert f.sha256 == hashlib.sha256(on_disk).hexdigest()  # of what is stored
        # The writing node has no private key: it cannot read back what it stored.
        status, body = await _play(writer, rid)
        assert status == 409 and b"recording.encrypted" in body
    finally:
        writer.close()

    stereo = next(p for p in stored if ".stereo." in p.name)
    try:
        crypto.decrypt_file(stereo, crypto.load_identities(tmp_path / "other.key"))
        raise AssertionError("a wrong key opened the recording")
    except crypto.KeyUnavailable:
        pass

    player = _service(
        tmp_path, "player", EncryptionConfig(recipients=recipients, identity_file=key_file)
    )
    try:
        status, body = await _play(player, rid)
        assert status == 200 and body.startswith(b"RIFF")
        played = tmp_path / "played.wav"
        played.write_bytes(body)
        levels = tone_levels(played, [TONE, 1500.0], channel=0, start=0.2, seconds=1.0)
        assert levels[TONE] > 1e-3 and levels[1500.0] < levels[TONE] / 1000, levels

        # One flipped byte in the store: refused before anything is decrypted.
        data = bytearray(stereo.read_bytes())
        data[-1] ^= 1
        stereo.write_bytes(bytes(data))
        status, body = await _play(player, rid)
        assert status == 500 and b"file.hash_mismatch" in body
    finally:
        player.close()


def test_bad_public_keys_are_refused_at_config() -> None:
    import pydantic

    try:
        EncryptionConfig(recipients=("age1notakey",))
        raise AssertionError("accepted a bad key")
    except pydantic.ValidationError as exc:
        assert "age X25519 public key" in str(exc)


async def test_transcoded_files_are_encrypted_and_no_plaintext_is_left(tmp_path: Path) -> None:
    admin = x25519.Identity.generate()
    svc = StorageService.open(
        StorageConfig(
            db_url=f"sqlite:///{tmp_path / 'callrec.db'}",
            store_root=tmp_path / "store",
            upload=UploadTargetConfig(type="none"),
            transcode="flac",
            encryption=EncryptionConfig(recipients=(str(admin.to_public()),)),
        )
    )
    try:
        seg = make_segment(tmp_path)
        _sine(seg.files["stereo"])
        await svc.accept_segment(seg)
        stored = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
        assert stored and all(p.name.endswith(".flac.age") for p in stored), stored
        flac = crypto.decrypt_file(next(p for p in stored if ".stereo." in p.name), [admin])
        assert flac.startswith(b"fLaC")
    finally:
        svc.close()
