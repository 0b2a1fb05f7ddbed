"""Soak: a real `callrec serve` under steady concurrent calls, judged by Asterisk's record.

    .venv/bin/python bench/soak.py                       # 50 calls, 30 minutes
    .venv/bin/python bench/soak.py --calls 5 --minutes 1 # a quick proof that it works

Starts a sandbox Asterisk and `callrec serve` (its own process, SQLite store,
local upload target), then keeps ``--calls`` recorded calls up: arrivals are
paced (one every hold/calls seconds), each call stays ``--hold`` seconds and
the simulated parties play time-encoding tones. Every 30 s it samples serve's
resident memory and open file descriptors (printed as it goes, so a level-off
shows). At the end it runs the capture verification (expected lengths from
Asterisk's CEL) over every recording of the run and reports the outcomes,
files that do not open as audio, the remote copy's delay, and the growth of
memory and descriptors from the first sample after warm-up to the last
(targets: flat), with the descriptors that grew by class (socket with its
peer and state, file path, pipe, anon inode). ``--probe`` runs serve under
``bench/serve_probe.py`` and prints what Python objects, asyncio tasks and
threads grew over the same span (``--tracemalloc N``: and the source lines
whose allocations grew, N frames each; slower). ``CALLREC_SOAK_KEEP=1`` keeps
the run's directory (serve.log, database, files).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import pct

from ari_app.client import AriClient, AriError, AriUnavailable
from callrec import sandbox
from storage.db import open_database
from storage.models import Recording, RecordingFile
from storage.verification import read_track, verify

POLICY = '[campaigns.soak]\nmode = "all_calls"\n[agents.a1]\nstate = "TX"\n'
USERS = """
[roles.ops]
permissions = ["admin", "calls"]
[users.ops]
password_hash = "{hash}"
roles = ["ops"]
"""


def settings(tmp: Path, inst: sandbox.Instance, agi_port: int, workers: int | None = None) -> Path:
    from console.users import hash_password

    (tmp / "callrec.toml").write_text(POLICY)
    (tmp / "users.toml").write_text(USERS.format(hash=hash_password("soak-pass")))
    (tmp / "service.toml").write_text(
        f"""
policy_config = "callrec.toml"
state_dir = "state"
[asterisk]
instance = "{inst.name}"
[endpoints]
agent = "Local/agent-timed@callrec-sim/n"
customer = "Local/customer-timed@callrec-sim/n"
formats = "slin"
[http]
port = 0
users_file = "users.toml"
[agi]
port = {agi_port}
[storage]
db_url = "sqlite:///callrec.db"
store_root = "store"
[storage.upload]
type = "local"
local_dir = "platform"
verify_hash = true
"""
        + (f"[storage.outbox]\nworkers = {workers}\n" if workers is not None else "")
    )
    return tmp / "service.toml"


def start_serve(
    tmp: Path, probe: bool = False, tracemalloc: int = 0
) -> tuple[subprocess.Popen[bytes], str]:
    ready = tmp / "ready"
    args = ["serve", "--settings", str(tmp / "service.toml"), "--ready-file", str(ready)]
    head = [sys.executable, "-m", "callrec"]
    env = dict(os.environ)
    if probe:
        head = [sys.executable, str(Path(__file__).with_name("serve_probe.py")), str(tmp / "probe")]
        env["CALLREC_PROBE_TRACEMALLOC"] = str(tracemalloc)
    with (tmp / "serve.log").open("ab") as log:
        proc = subprocess.Popen(head + args, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((tmp / "serve.log").read_text()[-3000:])
        time.sleep(0.1)
    return proc, ready.read_text()


def sample(pid: int) -> tuple[float, int]:
    """Resident memory (MiB) and open descriptors of a process."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


TCP_STATES = {"01": "established", "06": "time-wait", "08": "close-wait", "0A": "listen"}


def _sockets(pid: int, names: dict[int, str]) -> dict[str, str]:
    """Socket inode -> class: protocol, the known port it talks to, state."""
    out: dict[str, str] = {}
    rows: list[tuple[str, int, int, str]] = []
    for proto in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]:
                f = line.split()
                lport, rport = int(f[1].rsplit(":", 1)[1], 16), int(f[2].rsplit(":", 1)[1], 16)
                rows.append((f[9], lport, rport, TCP_STATES.get(f[3], f[3])))
    listening = {lport for _, lport, _, state in rows if state == "listen"}
    for inode, lport, rport, state in rows:
        if state == "listen":
            out[inode] = f"tcp listen {names.get(lport, lport)}"
        elif lport in listening:
            out[inode] = f"tcp in {names.get(lport, lport)} {state}"
        else:
            out[inode] = f"tcp out {names.get(rport, rport)} {state}"
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]:
            f = line.split()
            out[f[6]] = f"unix {f[7] if len(f) > 7 else '(unnamed)'}"
    return out


def descriptors(pid: int, names: dict[int, str], tmp: Path) -> Counter[str]:
    """Serve's open descriptors by class (ids and numbers in paths folded to ``*``)."""
    socks = _sockets(pid, names)
    classes: Counter[str] = Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            cls = socks.get(target[8:-1], "socket (not inet/unix, or gone)")
        elif target.startswith("pipe:"):
            cls = "pipe"
        elif target.startswith("anon_inode:"):
            cls = target
        else:
            cls = "file " + re.sub(r"[0-9a-f]{6,}|\d+", "*", target.replace(str(tmp), "<run>"))
        classes[cls] += 1
    return classes


def grown(before: Counter[str], after: Counter[str]) -> list[str]:
    keys = sorted(before.keys() | after.keys(), key=lambda k: before[k] - after[k])
    return [f"  {after[k] - before[k]:+4d} {k} ({before[k]} -> {after[k]})"
            for k in keys if after[k] != before[k]]  # fmt: skip


async def one_call(
    http: aiohttp.ClientSession, base: str, ari: AriClient, hold: float, placed: Counter[str]
) -> None:
    body = {"agent": "a1", "number": "+15125550142", "campaign": "soak"}
    async with http.post(f"{base}/api/calls", json=body) as resp:
        if resp.status != 201:
            placed["refused"] += 1
            return
        call_id = (await resp.json())["call_id"]
    placed["placed"] += 1
    await asyncio.sleep(hold)
    for attempt in range(5):  # Asterisk's HTTP may refuse a connection while it is busy
        try:
            await ari.hangup(f"{call_id}-c")
        except AriUnavailable:
            await asyncio.sleep(0.5 * (attempt + 1))
            continue
        except AriError:
            placed["gone_before_hangup"] += 1
        return
    placed["hangup_failed"] += 1


async def soak(
    calls: int, minutes: float, hold: float, probe: bool = False, tracemalloc: int = 0,
    workers: int | None = None,
) -> int:  # fmt: skip
    inst, _ = sandbox.up(f"soak-{os.getpid()}")
    tmp = Path(tempfile.mkdtemp(prefix="callrec-soak-"))
    agi_port = sandbox._free_port(set())
    settings(tmp, inst, agi_port, workers)
    since = datetime.now(UTC) - timedelta(seconds=5)
    proc, base = start_serve(tmp, probe, tracemalloc)
    names = {inst.ports.http: "ARI/HTTP", inst.ports.ami: "AMI", agi_port: "FastAGI",
             int(base.rsplit(":", 1)[1]): "serve-HTTP"}  # fmt: skip
    samples: list[tuple[float, float, int]] = []
    fd_classes: list[Counter[str]] = []
    placed: Counter[str] = Counter()
    print(
        f"Asterisk: {inst.version.split(' built')[0]}; {calls} concurrent calls of {hold:g}s, "
        f"paced, for {minutes:g} min; serve pid {proc.pid}"
    )
    try:
        token = base64.b64encode(b"ops:soak-pass").decode()
        async with (
            aiohttp.ClientSession(
                # Like a browser, a few connections: aiohttp's pool (100, reused in
                # turn) would keep whatever a stall made it open, held on serve's side.
                headers={"Authorization": f"Basic {token}"},
                connector=aiohttp.TCPConnector(limit=8),
            ) as http,
            AriClient(inst.ari_url, inst.ari_user, inst.ari_password, "soak-x") as ari,
        ):
            gap = hold / calls
            started = datetime.now(UTC)
            start = time.monotonic()
            end = start + minutes * 60
            tasks: set[asyncio.Task[None]] = set()
            next_sample = start
            while time.monotonic() < end:
                task = asyncio.create_task(one_call(http, base, ari, hold, placed))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                if time.monotonic() >= next_sample:
                    rss, fds = sample(proc.pid)
                    samples.append((time.monotonic() - start, rss, fds))
                    print(f"  {samples[-1][0]:6.0f}s  rss {rss:6.1f} MiB  fds {fds}", flush=True)
                    if len(samples) == 2:  # the first sample after warm-up
                        fd_classes.append(descriptors(proc.pid, names, tmp))
                        if probe:
                            proc.send_signal(signal.SIGUSR2)
                    next_sample += 30
                await asyncio.sleep(gap)
            await asyncio.gather(*tasks, return_exceptions=True)
            for _ in range(600):
                if not await ari.list_channels():
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(5)  # the last hand-offs and spans
            samples.append((time.monotonic() - start, *sample(proc.pid)))
            fd_classes.append(descriptors(proc.pid, names, tmp))
            if probe:
                proc.send_signal(signal.SIGUSR2)
                await asyncio.sleep(1)
                for _ in range(600):  # the probe writes its growth report
                    if (tmp / "probe").exists() and (tmp / "probe").read_text().count("==") >= 2:
                        break
                    await asyncio.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        sandbox.stop(inst)
    db = open_database(f"sqlite:///{tmp}/callrec.db", migrate=False)
    try:
        report = verify(db, tmp / "store", since=since)
        with db.session() as s:
            paths = [tmp / "store" / f.path for f in s.query(RecordingFile)]
            # Remote copy verified (uploaded with its hash read back) after the segment ended.
            last_upload: dict[str, datetime] = {}
            ended: dict[str, datetime] = {}
            for f, rec in s.query(RecordingFile, Recording).join(
                Recording, Recording.id == RecordingFile.recording_id
            ):
                ended[rec.id] = rec.ended_at
                if f.uploaded_at is not None and (
                    rec.id not in last_upload or f.uploaded_at > last_upload[rec.id]
                ):
                    last_upload[rec.id] = f.uploaded_at
    finally:
        db.dispose()
    unplayable = sum(1 for p in paths if read_track(p).seconds is None)
    print(
        f"calls placed {placed['placed']}, refused {placed['refused']}, "
        f"hang-up refused by ARI (call left up) {placed['hangup_failed']}"
    )
    print("verification:", ", ".join(f"{k} {n}" for k, n in sorted(report.counts.items())))
    for p in report.problems[:10]:
        print(f"  {p.outcome}: call {p.call_id} {p.reason}")
    print(f"files {len(paths)}, unplayable {unplayable}")
    delays = sorted((last_upload[r] - ended[r]).total_seconds() for r in last_upload)
    if delays:
        print(
            f"remote copy verified after the segment's end: p50 {pct(delays, 50):.2f}s "
            f"p95 {pct(delays, 95):.2f}s max {delays[-1]:.2f}s "
            f"({len(delays)} of {len(ended)} recordings uploaded; target p95 <= 2 s)"
        )
        # When the slow ones ended tells a steady backlog from a stall at one moment.
        slow = sorted(last_upload, key=lambda r: last_upload[r] - ended[r])[-len(delays) // 20 :]
        by_minute = Counter(
            int((ended[r].replace(tzinfo=UTC) - started).total_seconds() // 60) for r in slow
        )
        print(
            "  the slowest 5 % by the minute of the run their segment ended in: "
            + ", ".join(f"min {m}: {n}" for m, n in sorted(by_minute.items()))
        )
    warm = samples[1] if len(samples) > 2 else samples[0]
    last = samples[-1]
    print(
        f"serve memory {warm[1]:.1f} -> {last[1]:.1f} MiB ({last[1] - warm[1]:+.1f}), "
        f"descriptors {warm[2]} -> {last[2]} ({last[2] - warm[2]:+d}) "
        f"from {warm[0]:.0f}s to {last[0]:.0f}s"
    )
    if len(fd_classes) == 2:
        print("descriptors by class, warm-up -> end (changed only):")
        print("\n".join(grown(*fd_classes)) or "  none changed")
    if probe and (tmp / "probe").exists():
        print("serve's heap, warm-up -> end (bench/serve_probe.py):")
        print((tmp / "probe").read_text())
    if os.environ.get("CALLREC_SOAK_KEEP"):
        print(f"kept: {tmp} (serve.log, callrec.db, store)")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds each call stays up")
    parser.add_argument(
        "--probe", action="store_true",
        help="run serve under bench/serve_probe.py: report the Python objects that grew",
    )  # fmt: skip
    parser.add_argument(
        "--tracemalloc", type=int, default=0, metavar="FRAMES",
        help="with --probe: trace allocations (FRAMES deep) and report the lines that grew",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=None,
        help="[storage.outbox] workers for serve (default: the setting's default)",
    )  # fmt: skip
    args = parser.parse_args()
    return asyncio.run(
        soak(args.calls, args.minutes, args.hold, args.probe, args.tracemalloc, args.workers)
    )


if __name__ == "__main__":
    sys.exit(main())
