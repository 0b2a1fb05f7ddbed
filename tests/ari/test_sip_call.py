"""Direction proven on a real SIP call: SIPp sends a 440 Hz tone over RTP (PCMU)
into PJSIP, the dialplan hands it to Stasis, agent a1 (1000 Hz) answers."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.ari.harness import CA_NUMBER, TX_NUMBER, Stack, free_port
from tests.support.audio import tone_levels
from tests.support.sip_phone import tone

pytestmark = pytest.mark.asterisk

SCENARIO = Path(__file__).parent / "sipp" / "uac_tone.xml"


def tone_file(path: Path, hz: float, seconds: float = 2.0) -> Path:
    """Raw PCMU, which SIPp's rtp_stream plays as it is."""
    path.write_bytes(tone(hz, seconds))
    return path


@pytest.mark.parametrize(("number", "legs"), [(TX_NUMBER, "both"), (CA_NUMBER, "agent")])
async def test_real_sip_caller_tracks_hold_the_right_voices(
    stack: Stack, tmp_path: Path, number: str, legs: str
) -> None:
    sipp = shutil.which("sipp")
    assert sipp, "SIPp (Debian sip-tester) is required: scripts/setup installs it"
    tone_file(tmp_path / "tone440.ulaw", 440.0)  # the scenario streams it from cwd
    calls = tmp_path / "calls.csv"
    calls.write_text(f"SEQUENTIAL\n{number};\n")
    media = free_port() // 2 * 2
    proc = await asyncio.create_subprocess_exec(
        sipp, f"127.0.0.1:{stack.asterisk.ports.sip}", "-sf", str(SCENARIO),
        "-inf", str(calls), "-s", "inbound", "-m", "1", "-i", "127.0.0.1",
        "-p", str(free_port()), "-mp", str(media), "-nostdin", "-timeout", "40s",
        "-timeout_error", "-trace_err", "-error_file", str(tmp_path / "sipp-errors.log"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    errors = tmp_path / "sipp-errors.log"
    assert proc.returncode == 0, (err.decode(), errors.read_text() if errors.exists() else "")
    await stack.wait(lambda: len(stack.sink.segments) == 1, 15, "the SIP call's segment")
    [seg] = stack.sink.segments
    assert seg.direction == "inbound" and seg.customer_number_raw == number
    assert seg.legs == legs, seg.decision
    files = seg.extra["copies"]
    agent = tone_levels(files["agent"], [1000.0, 440.0], start=0.5, seconds=1.5)
    assert agent[1000.0] > 1e-4 and agent[440.0] < agent[1000.0] / 1000, agent
    if legs == "both":
        customer = tone_levels(files["customer"], [1000.0, 440.0], start=0.5, seconds=1.5)
        assert customer[440.0] > 1e-4 and customer[1000.0] < customer[440.0] / 1000, customer
    else:
        assert set(files) == {"agent"}
