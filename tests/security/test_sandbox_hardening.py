"""The sandbox Asterisk: every socket on loopback (RTP too, during a real SIP call),
not running as root, and an AMI user that cannot originate calls."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from callcore.ami import AmiError
from callrec.sandbox import Instance
from tests.agi.conftest import AgiEnv
from tests.security.sockets import bound_sockets
from tests.support.sip_phone import SipPhone

pytestmark = pytest.mark.asterisk


def _uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[2])  # effective uid
    raise AssertionError("no Uid line")


def test_asterisk_does_not_run_as_root(asterisk: Instance) -> None:
    assert _uid(asterisk.pid) != 0
    assert (asterisk.host_dir / "etc" / "manager.conf").stat().st_uid == _uid(asterisk.pid)
    # Other users cannot reach the live captures in the instance's spool.
    assert asterisk.host_dir.stat().st_mode & 0o077 == 0


async def test_every_listener_is_on_loopback_during_a_sip_call(env: AgiEnv) -> None:
    """TCP listeners, the SIP transport and RTP are on loopback.

    Known exception, not callrec's to change: PJSIP's DNS resolver (pjproject)
    binds one UDP and one UDP6 client socket on the wildcard address at start;
    they receive only answers to its own queries. They are allowed here by
    being present before any call and outside the RTP range, nothing else.
    """
    asterisk = env.asterisk
    before = {s for s in bound_sockets(asterisk.pid) if not s.loopback}
    assert all(s.proto.startswith("udp") for s in before), before
    assert len(before) <= 2, before
    phone = SipPhone("a1", ("127.0.0.1", asterisk.ports.sip), 1000.0)
    await phone.start()
    try:
        dialog = await phone.call("a2")
        await asyncio.sleep(0.5)
        sockets = bound_sockets(asterisk.pid)
        rtp = [s for s in sockets if asterisk.ports.rtp_start <= s.port <= asterisk.ports.rtp_end]
        assert rtp, f"no RTP socket during the call: {sockets}"
        assert all(s.loopback for s in rtp), rtp
        assert any(s.port == asterisk.ports.sip and s.loopback for s in sockets)
        assert all(s.loopback for s in sockets if s.proto.startswith("tcp")), sockets
        extra = {s for s in sockets if not s.loopback} - before
        assert not extra, f"new non-loopback sockets during the call: {extra}"
        # The service side (this process: FastAGI, AMI/ARI clients) likewise.
        ours = bound_sockets(os.getpid())
        assert any(s.port == env.service.port for s in ours)
        assert all(s.loopback for s in ours), [s for s in ours if not s.loopback]
        await phone.hangup(dialog)
    finally:
        phone.close()


async def test_ami_user_cannot_originate(env: AgiEnv) -> None:
    with pytest.raises(AmiError, match=r"(?i)permission denied"):
        await env.service.ami.action(
            "Originate", Channel="Local/customer@callrec-sim/n", Application="Wait", Data="1"
        )
    # What the path needs still works.
    await env.service.ami.action("Ping")
