from __future__ import annotations

import wave
from pathlib import Path

import pytest

from storage.errors import FileMissing, FileTruncated
from storage.wavfix import repair_wav_header, wav_duration
from tests.storage.conftest import crash_header, write_wav


def test_intact_file_is_left_alone(tmp_path: Path) -> None:
    p = write_wav(tmp_path / "a.wav", 1.0)
    before = p.read_bytes()
    assert repair_wav_header(p) is False
    assert p.read_bytes() == before


def test_zero_header_is_repaired_from_file_size(tmp_path: Path) -> None:
    p = write_wav(tmp_path / "a.wav", 2.0)
    crash_header(p)
    assert p.read_bytes()[4:8] == b"\0\0\0\0"
    assert repair_wav_header(p) is True
    assert wav_duration(p) == pytest.approx(2.0)
    assert repair_wav_header(p) is False  # idempotent


def test_partial_last_frame_is_left_out(tmp_path: Path) -> None:
    p = write_wav(tmp_path / "s.wav", 1.0, channels=2)
    crash_header(p)
    with p.open("ab") as fh:
        fh.write(b"\x01\x02\x03")  # 3 bytes of a 4-byte stereo frame
    assert repair_wav_header(p)
    with wave.open(str(p)) as w:
        assert w.getnframes() == 8000


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileMissing) as ei:
        repair_wav_header(tmp_path / "nope.wav")
    assert ei.value.code == "file.missing"


@pytest.mark.parametrize("content", [b"", b"RIFF\0\0", b"RIFF\0\0\0\0WAVEfmt "])
def test_no_header_cannot_be_repaired(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "bad.wav"
    p.write_bytes(content)
    with pytest.raises(FileTruncated) as ei:
        repair_wav_header(p)
    assert ei.value.code == "file.truncated"
