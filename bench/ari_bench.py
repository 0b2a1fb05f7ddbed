"""Capacity of the Stasis path against a pure-dialplan MixMonitor baseline.

For each N, in one run on one sandbox Asterisk:
  baseline: N calls bridged by dialplan, MixMonitor capturing both directions;
  callrec:  N calls through the Stasis app, both legs captured by snoops
            (``--capture snoop``), by MixMonitor on the agent's channel started
            over AMI (``--capture mixmonitor``), or each in turn (the default).
Reports total CPU (Asterisk + app) as a ratio to the baseline's, the app's CPU
alone, and StasisStart-to-recording latency p50/p95 (MixMonitor: to its
MixMonitorStart event); then, for the baseline and each capture, each
track's captured / expected length (expected: the bridged time Asterisk's CEL
logged, p1 and p50, short tracks) and where the missing audio is (head, gaps,
tail), found from the time-encoding tones the simulated parties play.

    .venv/bin/python bench/ari_bench.py            # N = 50, 100, 200
    .venv/bin/python bench/ari_bench.py --quick    # N = 10, 20
    .venv/bin/python bench/ari_bench.py --sizes 10 50 100
    .venv/bin/python bench/ari_bench.py --rate 5   # calls arrive at 5/s, not at once
    .venv/bin/python bench/ari_bench.py --sizes 50 --capture mixmonitor

By default all N calls are placed in one burst, the worst case for setup
latency; ``--rate`` paces arrivals (in both paths alike), closer to how
calls reach a call center. On 2 cores, N = 200 saturates the machine in both
paths.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    AnalysingSink,
    CelTruth,
    TrackResult,
    judge,
    judge_mixmonitor,
    loss_report,
    pct,
)

from ari_app.app import StasisApp
from ari_app.capturers import CAPTURE_KINDS, CaptureKind
from ari_app.client import AriClient, AriError
from callcore.ami import Ami, AmiAddress
from callcore.finish import Handoff
from callcore.mixmonitor import MonitorDir
from callcore.registry import CallRegistry
from callcore.state_store import StateStore
from callrec import sandbox
from policy import load_config
from storage.segment import FinishedSegment

TICK = os.sysconf("SC_CLK_TCK")
FORMATS = ""
RATE = 0.0  # calls placed per second; 0 = all at once
POLICY = '[campaigns.bench]\nmode = "all_calls"\n[agents.a1]\nstate = "TX"\n'
CUSTOMER = "Local/customer-timed@callrec-sim/n"  # parties whose audio encodes time
AGENT = "Local/agent-timed@callrec-sim/n"
LABEL = {"snoop": "snoops", "mixmonitor": "mixmon"}  # each capture's rows in the report


class TimingClient(AriClient):
    """The app's ARI client, timing each call from the StasisStart of its last
    party to the RecordingStarted of its last first-segment capture (the app
    itself keeps no measurements)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.arrived: dict[str, float] = {}  # call id -> last party's StasisStart
        self.snoops: dict[str, str] = {}  # recording id -> call id
        self.first: dict[str, str] = {}  # call id -> its first segment's recording id
        self.recording: dict[str, float] = {}  # call id -> last first-segment capture

    async def events(self, **kwargs: Any) -> Any:
        async for event in super().events(**kwargs):
            now, args = time.time(), event.get("args") or []
            if event.get("type") == "StasisStart" and args[:1] == ["call"]:
                self.arrived[args[1]] = now
            elif event.get("type") == "StasisStart" and args[:1] == ["snoop"]:
                self.snoops[args[2]] = args[1]
                self.first.setdefault(args[1], args[2])
            elif event.get("type") == "RecordingStarted":
                rid = event["recording"]["name"].split("/")[-1].rsplit("-", 1)[0]
                call = self.snoops.get(rid, "")
                if self.first.get(call) == rid:
                    self.recording[call] = now
            yield event

    def mixmonitor_started(self, event: dict[str, str]) -> None:
        """AMI MixMonitorStart on an agent's channel (``<call id>-a1``)."""
        call = event.get("Uniqueid", "").rsplit("-a", 1)[0]
        if call in self.arrived:
            self.recording.setdefault(call, time.time())

    def latencies(self) -> list[float]:
        return [t - self.arrived[c] for c, t in self.recording.items() if c in self.arrived]


class LaterSink:
    """Keeps the delivered segments and analyses them once every call ended.

    Analysing each track as it is delivered ran the tone analysis (CPU-heavy
    Python) while the calls not yet hung up were still being captured: on 2
    cores it starved Asterisk and read as ~0.9 s "gaps" in the last calls'
    tracks. The baseline's files are analysed after its calls ended too.
    """

    def __init__(self) -> None:
        self.segments: list[FinishedSegment] = []

    @property
    def count(self) -> int:
        return len(self.segments)

    async def accept_segment(self, segment: FinishedSegment) -> str:
        self.segments.append(segment)
        return segment.recording_id

    async def analyse(self) -> AnalysingSink:
        sink = AnalysingSink()
        for segment in self.segments:
            await sink.accept_segment(segment)
        return sink


async def pace(i: int, start: float) -> None:
    """Sleep until call ``i`` is due at RATE calls/s from ``start``."""
    if RATE > 0:
        await asyncio.sleep(max(0.0, start + i / RATE - time.monotonic()))


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def wait_until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await pred():
            return
        await asyncio.sleep(0.25)
    raise RuntimeError(f"timed out waiting for {what}")


async def hang_up_all(ari: AriClient) -> None:
    """The customers hang up, as they would; the rest is the system's to end.

    Hanging up every channel would also kill callrec's snoop channels while
    their parties are still bridged, and read as audio lost at the tail.
    """
    for channel in await ari.list_channels():
        if not str(channel.get("name", "")).startswith("Local/customer-timed"):
            continue
        try:
            await ari.hangup(channel["id"])
        except AriError:
            pass

    async def quiet() -> bool:
        return not any(
            str(c.get("name", "")).startswith("Local/") for c in await ari.list_channels()
        )

    try:
        await wait_until(quiet, 60, "the parties to hang up")
    except RuntimeError as exc:
        print(f"warning: {exc}; hanging up what is left")
    for channel in await ari.list_channels():  # anything left over
        try:
            await ari.hangup(channel["id"])
        except AriError:
            pass

    async def empty() -> bool:
        return not await ari.list_channels()

    await wait_until(empty, 60, "all channels to hang up")


async def measure(inst: sandbox.Instance, window: float) -> tuple[float, float]:
    a0, s0 = proc_cpu(inst.pid), self_cpu()
    await asyncio.sleep(window)
    return proc_cpu(inst.pid) - a0, self_cpu() - s0


async def baseline(
    inst: sandbox.Instance, ari: AriClient, n: int, window: float, truth: CelTruth
) -> tuple[float, list[TrackResult]]:
    start = time.monotonic()
    for i in range(n):
        await pace(i, start)
        await ari.originate(
            CUSTOMER,
            extension="s",
            context="callrec-sim-mixmonitor-timed",
            priority=1,
            formats=FORMATS or None,
        )

    async def up() -> bool:
        return len(await ari.list_channels()) >= 4 * n

    await wait_until(up, 120, f"{n} baseline calls")
    await asyncio.sleep(2.0)
    ast, _ = await measure(inst, window)
    await hang_up_all(ari)
    await asyncio.sleep(1.5)  # MixMonitor's files close, CEL's bridge exits arrive
    results = await judge_mixmonitor(inst.monitor_dir, truth)
    return ast / window, results


async def through_app(
    inst: sandbox.Instance,
    ari: AriClient,
    n: int,
    window: float,
    tmp: Path,
    truth: CelTruth,
    capture: CaptureKind,
) -> tuple[float, float, list[float], list[TrackResult]]:
    (tmp / "callrec.toml").write_text(POLICY)
    config = load_config(tmp / "callrec.toml")
    registry = CallRegistry()
    sink = LaterSink()
    client = TimingClient(inst.ari_url, inst.ari_user, inst.ari_password, inst.app)
    ami = None
    if capture == "mixmonitor":
        ami = Ami(AmiAddress("127.0.0.1", inst.ports.ami, inst.ami_user, inst.ami_secret))
        ami.on("MixMonitorStart", client.mixmonitor_started)
        await ami.connect()
    app = StasisApp(
        client,
        config=lambda: config,
        registry=registry,
        store=StateStore(tmp / f"state-{n}-{capture}"),
        handoff=Handoff(sink, tmp / f"pending-{n}-{capture}"),
        recording_dir=inst.recording_dir,
        agent_endpoint=lambda agent: AGENT,
        customer_endpoint=lambda number: CUSTOMER,
        originate_formats=FORMATS or None,
        capture=capture,
        ami=ami,
        monitor=MonitorDir(inst.monitor_dir, f"{inst.ast_dir}/spool/monitor"),
    )
    await app.start()
    await asyncio.wait_for(app.connected.wait(), 10)
    start = time.monotonic()
    for i in range(n):
        await pace(i, start)
        await app.originate_call(agent="a1", number=f"+1512555{i:04d}", campaign="bench")

    async def recording() -> bool:
        return sum(1 for c in app.calls.values() if c.recording) >= n

    await wait_until(recording, 180, f"{n} recorded calls")
    parties = {c.call_id: dict(c.channels) for c in app.calls.values()}
    await asyncio.sleep(2.0)
    ast, mine = await measure(inst, window)
    await hang_up_all(ari)

    async def delivered() -> bool:
        return sink.count >= n and not app.calls

    await wait_until(delivered, 120, "segments delivered")
    await asyncio.sleep(1.0)  # the last CEL bridge exits
    analysed = await sink.analyse()
    results: list[TrackResult] = []
    for call_id, legs in analysed.tracks.items():
        ids = parties.get(call_id, {})
        names = {role: _name(truth, ids.get(role, "")) for role in ("agent", "customer")}
        for leg, loss in legs.items():
            name = names[leg]
            expected = truth.expectation(name) if name else None
            judged = judge(LABEL[capture], leg, loss, expected)
            if judged:
                results.append(judged)
    latencies = client.latencies()
    await app.stop()
    await app.client.close()
    if ami is not None:
        await ami.close()
    return ast / window, mine / window, latencies, results


def _name(truth: CelTruth, uniqueid: str) -> str | None:
    span = truth.by_uniqueid(uniqueid) if uniqueid else None
    return span.channels.get(uniqueid) if span else None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--window", type=float, default=None, help="seconds measured per run")
    parser.add_argument("--detail", action="store_true", help="print every track's analysis")
    parser.add_argument("--sizes", type=int, nargs="+", help="numbers of concurrent calls")
    parser.add_argument(
        "--formats",
        default="slin",
        help="codec asked of the simulated parties (default slin: their tones are slin, so "
        "no transcoding; '' lets Asterisk choose, which costs ~12%% of a core per call)",
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, help="calls placed per second (default: all at once)"
    )
    parser.add_argument(
        "--capture",
        choices=[*CAPTURE_KINDS, "both"],
        default="both",
        help="how the Stasis app captures (default: snoops, then MixMonitor, in one run)",
    )
    args = parser.parse_args()
    captures: list[CaptureKind] = list(CAPTURE_KINDS) if args.capture == "both" else [args.capture]
    global FORMATS, RATE
    FORMATS, RATE = args.formats, args.rate
    sizes = tuple(args.sizes) if args.sizes else ((10, 20) if args.quick else (50, 100, 200))
    window = args.window or (4.0 if args.quick else 10.0)
    inst, _ = sandbox.up(f"bench-ari-{os.getpid()}", app="callrec-bench")
    tmp = Path(tempfile.mkdtemp(prefix="callrec-bench-"))
    arrival = f"{RATE:g} calls/s" if RATE > 0 else "all at once"
    print(
        f"Asterisk: {inst.version.split(' built')[0]}; {os.cpu_count()} cores; "
        f"window {window}s; calls placed {arrival}"
    )
    print(
        f"{'N':>5} {'capture':>8} {'baseline CPU':>13} {'callrec CPU':>12} {'ratio':>6} "
        f"{'app CPU':>8} {'p50 ms':>7} {'p95 ms':>7}"
    )
    truth = CelTruth("127.0.0.1", inst.ports.ami, inst.ami_user, inst.ami_secret)
    await truth.start()
    losses: dict[int, list[TrackResult]] = {}
    try:
        async with AriClient(inst.ari_url, inst.ari_user, inst.ari_password, "bench-x") as ari:
            for n in sizes:
                base, base_tracks = await baseline(inst, ari, n, window, truth)
                losses[n] = base_tracks
                for capture in captures:
                    ast, mine, lat, tracks = await through_app(
                        inst, ari, n, window, tmp, truth, capture
                    )
                    losses[n] += tracks
                    total = ast + mine
                    p50, p95 = (statistics.median(lat), pct(lat, 95)) if lat else (0.0, 0.0)
                    print(
                        f"{n:>5} {capture:>8} {base:>12.0%} {total:>12.0%} "
                        f"{total / base:>6.2f} {mine:>8.0%} {1000 * p50:>7.1f} {1000 * p95:>7.1f}",
                        flush=True,
                    )
        print("Captured / expected per track (expected: Asterisk's CEL bridged time):")
        for n, results in losses.items():
            print(f"  N = {n}")
            for kind in ("baseline", *(LABEL[c] for c in captures)):
                print("  " + loss_report(results, kind))
                if args.detail:
                    for r in results:
                        if r.path_kind == kind:
                            print("      " + r.describe())
    finally:
        await truth.close()
        sandbox.stop(inst)
        shutil.rmtree(tmp, ignore_errors=True)
    print(
        "CPU is % of one core (Asterisk, plus the app for callrec). Targets: ratio <= 1.15 "
        "and p95 < 50 ms at N = 100."
    )


if __name__ == "__main__":
    asyncio.run(main())
