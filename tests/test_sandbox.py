"""The sandbox's operator-facing behaviour: restarts, stale state, ports, cache."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from callrec import sandbox
from callrec.cli import main

pytestmark = pytest.mark.asterisk


def test_up_twice_then_down_leaves_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    name = f"t-updown-{os.getpid()}"
    assert main(["asterisk", "up", "--name", name]) == 0
    inst = sandbox.load_instance(name)
    assert inst is not None and inst.alive()
    assert main(["asterisk", "up", "--name", name]) == 0
    assert "already running" in capsys.readouterr().out
    assert main(["asterisk", "down", "--name", name]) == 0
    assert "no process, mount or port left" in capsys.readouterr().out
    assert sandbox.leftovers(inst) == []
    mounts = Path("/proc/mounts").read_text()
    assert inst.root == "" or inst.root not in mounts
    assert main(["asterisk", "status", "--name", name]) == 3
    left = list((sandbox.cache_dir() / "instances").glob(f"{name}.*"))
    assert left == [], "no state or lock file of a stopped instance is left"


def test_stale_pid_is_recovered(capsys: pytest.CaptureFixture[str]) -> None:
    name = f"t-stale-{os.getpid()}"
    inst, _ = sandbox.up(name)
    os.killpg(inst.pid, 9)
    os.waitpid(inst.pid, 0)
    assert main(["asterisk", "status", "--name", name]) == 3
    assert "stale" in capsys.readouterr().out
    again, started = sandbox.up(name)
    try:
        assert started and again.pid != inst.pid
        assert "removing stale state" in capsys.readouterr().out
    finally:
        sandbox.stop(again)


def test_port_in_use_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["asterisk", "up", "--name", f"t-port-{os.getpid()}", "--http-port", str(port)])
    out = capsys.readouterr().out
    assert code == 1
    assert "sandbox.port_in_use" in out and str(port) in out


def test_half_built_cache_is_removed_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "rootfs" / "usr").mkdir(parents=True)  # no completion marker
    monkeypatch.setenv("CALLREC_CACHE", str(tmp_path))
    monkeypatch.setenv("CALLREC_ASTERISK", "chroot")
    monkeypatch.setenv("PATH", "/nonexistent")  # no debootstrap: stop before building
    with pytest.raises(sandbox.SandboxError) as err:
        sandbox.ensure_rootfs()
    assert err.value.code == "sandbox.no_debootstrap"
    assert "removing half-built cache" in capsys.readouterr().out
    assert not (tmp_path / "rootfs").exists()


def test_cli_command_reaches_the_instance(asterisk: sandbox.Instance) -> None:
    out = asterisk.cli("module show like res_ari.so")
    assert "res_ari.so" in out
    version = subprocess.run(
        [".venv/bin/callrec", "asterisk", "status", "--name", asterisk.name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert version.returncode == 0 and "running" in version.stdout


def test_restart_after_kill_keeps_ports_and_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    """A killed instance comes back where its clients expect it: same ports, same ARI password.

    Connections open at the kill leave the old ports lingering (FIN_WAIT/TIME_WAIT);
    they must not make ``up`` refuse them.
    """
    name = f"t-restart-{os.getpid()}"
    inst, _ = sandbox.up(name)
    again: sandbox.Instance | None = None
    try:
        clients = [
            socket.create_connection(("127.0.0.1", p)) for p in (inst.ports.http, inst.ports.ami)
        ]
        os.killpg(inst.pid, 9)
        os.waitpid(inst.pid, 0)
        for client in clients:
            client.close()
        code = main(["asterisk", "up", "--name", name, "--http-port", str(inst.ports.http)])
        assert code == 0, capsys.readouterr().out
        again = sandbox.load_instance(name)
        assert again is not None and again.alive() and again.pid != inst.pid
        assert again.ports == inst.ports
        assert (again.ari_password, again.ami_secret) == (inst.ari_password, inst.ami_secret)
        assert sandbox._ari_ready(inst)  # the old link (URL + password) reaches the new Asterisk
    finally:
        sandbox.stop(again or inst)
