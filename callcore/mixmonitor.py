"""MixMonitor arguments and files: which option is which side, and when a file is done.

MixMonitor runs on the *agent's* channel. On a channel, ``r()`` records what
Asterisk reads from it (the agent's voice) and ``t()`` what it sends to it
(the customer's voice); tests/agi/test_dial_modes.py proves this with tones.
The main file name is always empty: a non-empty name writes the mixed file
too, which holds the customer even when only the agent side may be kept.
File names are built only from callrec's own hex ids.
"""

from __future__ import annotations

import asyncio
import re
import struct
import time
from dataclasses import dataclass
from pathlib import Path

# The MixMonitor option that captures each side, on the agent's channel.
LEG_OPTION = {"agent": "r", "customer": "t"}
MIXMONITOR_ID_VAR = "CALLREC_MIXMONITOR_ID"
_HEX = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class MonitorDir:
    """The monitor directory as Asterisk sees it and as this host sees it (chroot)."""

    host: Path
    asterisk: str

    def file_name(self, recording_id: str, leg: str) -> str:
        if not _HEX.match(recording_id) or leg not in LEG_OPTION:
            raise ValueError("recording ids are callrec's own hex ids")
        return f"callrec-{recording_id}-{leg}.wav"

    def asterisk_path(self, recording_id: str, leg: str) -> str:
        return f"{self.asterisk.rstrip('/')}/{self.file_name(recording_id, leg)}"

    def host_path(self, recording_id: str, leg: str) -> Path:
        return self.host / self.file_name(recording_id, leg)


def legs_captured(legs: str) -> tuple[str, ...]:
    if legs == "both":
        return ("agent", "customer")
    if legs == "agent":
        return ("agent",)
    return ()


def options(monitor: MonitorDir, recording_id: str, legs: str) -> str:
    """MixMonitor options for the decided legs: one file per side, no mixed file."""
    parts = [
        f"{LEG_OPTION[leg]}({monitor.asterisk_path(recording_id, leg)})"
        for leg in legs_captured(legs)
    ]
    if not parts:
        raise ValueError("nothing to capture")
    return "".join(parts) + f"i({MIXMONITOR_ID_VAR})"


def app_data(monitor: MonitorDir, recording_id: str, legs: str) -> str:
    """MixMonitor(<empty file>,<options>): the application's argument string."""
    return "," + options(monitor, recording_id, legs)


def wav_closed(path: Path) -> bool:
    """True once Asterisk wrote the real sizes into the header (it does so on close)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(44)
    except OSError:
        return False
    if len(head) < 44 or head[:4] != b"RIFF":
        return False
    riff_size = struct.unpack_from("<I", head, 4)[0]
    data_size = struct.unpack_from("<I", head, 40)[0]
    return bool(riff_size == size - 8 and data_size == size - 44)


async def wait_closed(paths: list[Path], timeout: float = 10.0) -> bool:
    """Wait until every file is closed by MixMonitor (header complete, size stable).

    MixMonitor closes its files on its own thread shortly after StopMixMonitor
    or the hangup; AMI tells us it stopped, not that the file is complete.
    """
    deadline = time.monotonic() + timeout
    last: dict[Path, int] = {}
    while time.monotonic() < deadline:
        done = True
        for path in paths:
            size = path.stat().st_size if path.exists() else -1
            if not wav_closed(path) or last.get(path) != size:
                done = False
            last[path] = size
        if done:
            return True
        await asyncio.sleep(0.1)
    return False
