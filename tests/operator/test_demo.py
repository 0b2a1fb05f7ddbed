"""`callrec demo` is the one command on embedded defaults: the sandbox's parties,
SQLite and files under ./var, a first-run admin; `serve` without a file refuses."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from callrec.sandbox import Instance

pytestmark = pytest.mark.asterisk


def test_demo_runs_on_embedded_defaults_and_serve_needs_a_file(
    own_asterisk: Instance, tmp_path: Path
) -> None:
    asterisk = own_asterisk
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    refused = subprocess.run(
        [sys.executable, "-m", "callrec", "serve"], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 1 and "settings.missing" in refused.stdout, refused
    ready = tmp_path / "ready"
    log = tmp_path / "demo.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "callrec", "demo", "--instance", asterisk.name, "--port", "0",
         "--ready-file", str(ready)],
        cwd=tmp_path, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "demo did not become ready"
            time.sleep(0.1)
        with urllib.request.urlopen(ready.read_text() + "/api/health", timeout=5) as resp:
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-3000:]
    out = log.read_text()
    assert "policy    embedded defaults" in out, out
    assert f"sqlite:///{tmp_path}/var/callrec/callrec.db" in out, out
    assert (tmp_path / "var" / "callrec" / "admin-password").stat().st_mode & 0o077 == 0
