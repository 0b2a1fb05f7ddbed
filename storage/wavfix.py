"""Repair WAV headers left behind by a crash.

Asterisk (like most writers) fills in the RIFF and ``data`` sizes when it
closes the file, so a crash leaves a header that says 0 bytes while the audio
is on disk. Players then show an empty file; we rewrite the sizes from the
file length instead of losing the call. The call paths run this at start-up on
files they find, and ingest runs it on every segment.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from storage.errors import FileMissing, FileTruncated


@dataclass(frozen=True)
class WavLayout:
    riff_size: int
    data_offset: int  # offset of the data chunk's payload
    data_size: int  # as declared in the header
    block_align: int
    file_size: int


def inspect_wav(path: Path) -> WavLayout:
    """Locate the chunks; raise ``file.truncated`` when there is no usable header."""
    try:
        file_size = path.stat().st_size
    except FileNotFoundError as exc:
        raise FileMissing(f"recording file {path.name} does not exist") from exc
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise FileTruncated(
                f"{path.name}: no RIFF/WAVE header ({file_size} bytes); cannot be repaired"
            )
        riff_size = struct.unpack("<I", head[4:8])[0]
        block_align = 0
        pos = 12
        while True:
            fh.seek(pos)
            chunk = fh.read(8)
            if len(chunk) < 8:
                raise FileTruncated(f"{path.name}: header ends before the data chunk")
            cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"fmt ":
                fmt = fh.read(16)
                if len(fmt) < 16:
                    raise FileTruncated(f"{path.name}: fmt chunk cut short")
                block_align = struct.unpack("<H", fmt[12:14])[0]
            elif cid == b"data":
                if block_align == 0:
                    raise FileTruncated(f"{path.name}: data chunk before any fmt chunk")
                return WavLayout(riff_size, pos + 8, size, block_align, file_size)
            pos += 8 + size + (size & 1)


def repair_wav_header(path: Path) -> bool:
    """Rewrite RIFF and data sizes from the file length; True when something changed.

    A header whose data size is 0 or larger than what is on disk is taken as a
    crash mark. A trailing partial sample frame is left out of the size.
    Raises ``file.missing`` / ``file.truncated`` when there is nothing to save.
    """
    layout = inspect_wav(path)
    available = layout.file_size - layout.data_offset
    if 0 < layout.data_size <= available and layout.riff_size != 0:
        return False
    data_size = available - (available % layout.block_align)
    riff_size = layout.file_size - 8
    if data_size == layout.data_size and riff_size == layout.riff_size:
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        os.pwrite(fd, struct.pack("<I", riff_size), 4)
        os.pwrite(fd, struct.pack("<I", data_size), layout.data_offset - 4)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def wav_duration(path: Path) -> float:
    """Seconds of audio, from the header (after any repair)."""
    import wave

    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate() or 1)
