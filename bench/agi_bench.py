"""The dialplan/FastAGI path against a plain-dialplan MixMonitor baseline, at N calls.

    .venv/bin/python bench/agi_bench.py                        # N = 50, 5 calls/s
    .venv/bin/python bench/agi_bench.py --calls 10 --window 5  # small: no lock needed
    .venv/bin/python bench/agi_bench.py --detail               # every track's analysis

One sandbox Asterisk, one run, the same N for both paths:
  baseline: N calls bridged by plain dialplan (Dial), MixMonitor on the
            customer's channel capturing both directions;
  callrec:  N calls through callrec's FastAGI route (Dial with the
            U(callrec-agi-answer) hook: decision, then MixMonitor on the
            agent's channel before the bridge).
The simulated parties play time-encoding tones (dialplan/callrec-sim-timed.conf).
Calls arrive paced (``--rate``), are originated in the parties' own format
(``--formats``, default slin: no transcoding), stay up until the last has
arrived plus the CPU window, then the customers hang up (``--hangup agent``:
the agents), paced at the same rate; the other side ends with the bridge, as
on a real call.

Prints, per path: CPU of Asterisk (+ callrec for callrec) over a steady
window with every call up, and over the whole run (setup and teardown
included), with the ratio to the baseline; the answer hook's latency
(FastAGI request to decision set and MixMonitor started, timed around the
route by this script: the production server keeps no timings); then each
track's captured / expected length (expected: the bridged time in
Asterisk's CEL; p1, p50, short tracks) and where the missing audio is
(head, gaps, tail).

``--stop`` stops callrec's recordings as the console does before the parties
hang up; callrec's tracks are then judged against the stop request (what was
said before it must be in the file).

``--pause P`` pauses them (MixMonitorMute) for P seconds first and reports
where each track's muted stretch falls against the pause and resume requests.

``--rounds R`` adds R latency rounds before the capture runs: N calls to a
FastAGI handler that only answers (the latency baseline) and N to the
answer hook, with steady-tone parties.

More than 10 calls: hold the bench lock (``flock /work/bench.lock ...``).
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
import wave
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    TONES,
    CelTruth,
    TrackLoss,
    TrackResult,
    analyse_track,
    discard,
    judge,
    judge_mixmonitor,
    loss_report,
    pct,
)

from agi_scripts.agi import AgiChannel
from agi_scripts.server import AgiServer, Route
from agi_scripts.service import AgiService
from ari_app.client import AriClient, AriError, AriUnavailable
from callcore.ami import AmiAddress
from callcore.finish import Handoff
from callcore.mixmonitor import wait_closed
from callcore.registry import CallRegistry
from callcore.state_store import StateStore
from callrec import sandbox
from callrec.settings import ServiceSettings
from policy import load_config
from storage.segment import FinishedSegment

POLICY = """
[campaigns.bench]
mode = "all_calls"
[agents.1001]
state = "NY"
"""
FACTS = {
    "__CALLREC_AGENT": "1001",
    "__CALLREC_CAMPAIGN": "bench",
    "__CALLREC_NUMBER": "+12125550100",
}
TICK = os.sysconf("SC_CLK_TCK")
CUSTOMER = "Local/customer-timed@callrec-sim/n"  # parties whose audio encodes time
STEADY_CUSTOMER = "Local/customer@callrec-sim/n"  # a steady tone (latency rounds)


class KeepingSink:
    """Counts the segments callrec hands off; keeps their files while ``keep`` is on,
    to analyse their tones after the CPU was measured (the analysis is the
    bench's work, not callrec's), else removes them: storage is not measured."""

    def __init__(self) -> None:
        self.count = 0
        self.keep = False
        self.kept: list[FinishedSegment] = []
        self.tracks: dict[str, dict[str, TrackLoss]] = {}  # call id -> leg -> loss
        self.muted: dict[str, dict[str, tuple[float, float] | None]] = {}  # -> leg -> stretch

    async def accept_segment(self, segment: FinishedSegment) -> str:
        self.count += 1
        if self.keep:
            self.kept.append(segment)
        else:
            _remove(segment)
        return segment.recording_id

    async def analyse(self) -> None:
        for segment in self.kept:
            for leg, path in segment.files.items():
                if leg in TONES:
                    loss = await asyncio.to_thread(analyse_track, path, TONES[leg])
                    self.tracks.setdefault(segment.call_id, {})[leg] = loss
                    stretch = await asyncio.to_thread(longest_zero_stretch, path)
                    self.muted.setdefault(segment.call_id, {})[leg] = stretch
            _remove(segment)
        self.kept.clear()


def longest_zero_stretch(path: Path) -> tuple[float, float] | None:
    """(start, end) in file seconds of the longest run of all-zero 20 ms windows:
    MixMonitorMute writes exact zeros, the timed parties never pause."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels = wav.getframerate(), wav.getnchannels()
            samples = array("h", wav.readframes(wav.getnframes()))
    except (wave.Error, EOFError):
        return None
    step = int(rate * 0.02) * channels
    best: tuple[float, float] | None = None
    run_start: int | None = None
    windows = range(0, len(samples) - step + 1, step)
    for i, at in enumerate(windows):
        silent = not any(samples[at : at + step])
        if silent and run_start is None:
            run_start = i
        if run_start is not None and (not silent or i == len(windows) - 1):
            end = i if not silent else i + 1
            if best is None or (end - run_start) * 0.02 > best[1] - best[0]:
                best = (run_start * 0.02, end * 0.02)
            run_start = None
    return best


def _remove(segment: FinishedSegment) -> None:
    for path in segment.files.values():
        discard(path)  # or kept in $CALLREC_BENCH_KEEP


@dataclass
class Rig:
    """What every phase uses: the sandbox, ARI, the service and how calls are placed."""

    inst: sandbox.Instance
    ari: AriClient
    service: AgiService
    sink: KeepingSink
    truth: CelTruth
    rate: float  # calls per second, arriving and hanging up; 0: all at once
    formats: str  # the codec asked of the originated parties ("": Asterisk chooses)
    hangs_up: str = "Local/customer-timed"  # the timed party whose phone ends each call
    stop: bool = False  # stop callrec's recordings (console action) before the hangups
    pause: float = 0.0  # seconds callrec's recordings are paused (console action); 0: not


class RouteTimer:
    """Per-route latencies and failures of the FastAGI handlers, timed around them."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.failures: dict[str, int] = defaultdict(int)

    def install(self) -> None:
        """Wrap every route a server registers from now on (this process only)."""
        original = AgiServer.route
        timer = self

        def route(server: AgiServer, name: str, handler: Route) -> None:
            async def timed(chan: Any) -> None:
                started = time.perf_counter()
                try:
                    await handler(chan)
                except BaseException:  # an error, or the server's deadline cancelled it
                    timer.failures[name] += 1
                    raise
                timer.latencies[name].append(time.perf_counter() - started)

            original(server, name, timed)

        AgiServer.route = route  # type: ignore[method-assign,assignment]


TIMER = RouteTimer()


async def answer_only(chan: AgiChannel) -> None:
    """The latency baseline: a FastAGI handler that only answers."""
    await chan.request.send_command("ANSWER")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Cpu:
    """CPU used by Asterisk and by this process (callrec runs in it) over some wall time."""

    asterisk: float = 0.0
    app: float = 0.0
    wall: float = 0.0

    @property
    def share(self) -> float:
        """Fraction of one core."""
        return (self.asterisk + self.app) / self.wall if self.wall else 0.0


class CpuMeter:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.a0, self.s0, self.t0 = proc_cpu(pid), self_cpu(), time.monotonic()

    def read(self, with_app: bool) -> Cpu:
        return Cpu(
            proc_cpu(self.pid) - self.a0,
            self_cpu() - self.s0 if with_app else 0.0,
            time.monotonic() - self.t0,
        )


@dataclass
class PhaseResult:
    window: Cpu
    whole: Cpu
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    tracks: list[TrackResult] = field(default_factory=list)
    pauses: list[str] = field(default_factory=list)


async def pace(i: int, start: float, rate: float) -> None:
    """Sleep until event ``i`` is due at ``rate`` per second from ``start``."""
    if rate > 0:
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))


async def wait_until(pred: Any, timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if await pred():
                return True
        except AriUnavailable:  # a busy Asterisk: ask again
            pass
        await asyncio.sleep(0.25)
    print(f"warning: timed out waiting for {what}")
    return False


async def place(
    rig: Rig, n: int, endpoint: str, context: str, exten: str, variables: dict[str, str]
) -> None:
    start = time.monotonic()
    for i in range(n):
        await pace(i, start, rig.rate)
        await rig.ari.originate(
            endpoint,
            context=context,
            extension=exten,
            priority=1,
            variables=variables or None,
            formats=rig.formats or None,
        )


async def parties_hang_up(rig: Rig, prefix: str) -> None:
    """One party of each call (the customer's or the agent's phone: the party half
    of its Local channel) hangs up, in the order the calls arrived, at the arrival
    rate; the rest of each call ends as Asterisk ends it. Hanging every channel up
    at once would be a storm no call center sees, and would cut channels
    mid-bridge before their parties left."""
    parties = [
        c for c in await rig.ari.list_channels()
        if str(c.get("name", "")).startswith(prefix) and str(c.get("name", "")).endswith(";2")
    ]  # fmt: skip
    parties.sort(key=lambda c: str(c.get("creationtime", "")))
    start = time.monotonic()
    for i, channel in enumerate(parties):
        await pace(i, start, rig.rate)
        try:
            await rig.ari.hangup(channel["id"])
        except AriError:  # gone already
            pass

    async def quiet() -> bool:
        return not any(
            str(c.get("name", "")).startswith("Local/") for c in await rig.ari.list_channels()
        )

    if not await wait_until(quiet, 60, "the calls to end"):
        for channel in await rig.ari.list_channels():  # what is left: report, then end it
            print(f"  left over: {channel.get('name')} ({channel.get('state')})")
            try:
                await rig.ari.hangup(channel["id"])
            except AriError:
                pass


async def up_and_measure(rig: Rig, n: int, ready: Any, window: float, with_app: bool) -> Cpu:
    """Wait until all ``n`` calls are up (and ``ready``), then measure CPU over ``window``."""

    async def up() -> bool:
        return len(await rig.ari.list_channels()) >= 4 * n and bool(await ready())

    await wait_until(up, 60 + (n / rig.rate if rig.rate else 0), f"{n} calls up")
    await asyncio.sleep(2.0)
    meter = CpuMeter(rig.inst.pid)
    await asyncio.sleep(window)
    return meter.read(with_app)


async def baseline_phase(rig: Rig, n: int, window: float) -> PhaseResult:
    """N calls bridged by plain dialplan, MixMonitor on the customer's channel."""
    meter = CpuMeter(rig.inst.pid)

    async def always() -> bool:
        return True

    await place(rig, n, CUSTOMER, "callrec-sim-mixmonitor-timed", "s", {})
    cpu = await up_and_measure(rig, n, always, window, with_app=False)
    await parties_hang_up(rig, rig.hangs_up)
    whole = meter.read(with_app=False)
    files = sorted(rig.inst.monitor_dir.glob("callrec-bench-*.wav"))
    if not await wait_closed(files, 30):  # MixMonitor closes them on its own threads
        print("warning: some baseline MixMonitor files were not closed within 30 s")
    await asyncio.sleep(1.0)  # the last CEL bridge exits
    return PhaseResult(cpu, whole, tracks=await judge_mixmonitor(rig.inst.monitor_dir, rig.truth))


async def callrec_phase(rig: Rig, n: int, window: float) -> PhaseResult:
    """N calls through callrec's FastAGI answer hook (callrec-agi-bench-timed,dial)."""
    controller = rig.service.controller
    latencies, done = TIMER.latencies["answer"], len(TIMER.latencies["answer"])
    failed = TIMER.failures.get("answer", 0)
    rig.sink.keep, before = True, rig.sink.count
    meter = CpuMeter(rig.inst.pid)

    async def recording() -> bool:  # every answer hook done (or failed: the dialplan fell back)
        return len(latencies) - done + TIMER.failures.get("answer", 0) - failed >= n

    await place(rig, n, CUSTOMER, "callrec-agi-bench-timed", "dial", FACTS)
    cpu = await up_and_measure(rig, n, recording, window, with_app=True)
    pauses = await pause_recordings(rig) if rig.pause > 0 else {}
    stops = await stop_recordings(rig) if rig.stop else {}
    await parties_hang_up(rig, rig.hangs_up)

    async def delivered() -> bool:
        return rig.sink.count - before >= n and not controller.calls

    await wait_until(delivered, 60, "segments delivered")
    whole = meter.read(with_app=True)
    rig.sink.keep = False
    await rig.sink.analyse()
    await asyncio.sleep(1.0)  # the last CEL bridge exits
    tracks: list[TrackResult] = []
    for call_id, legs in rig.sink.tracks.items():
        for leg, loss in legs.items():
            prefix = "Local/agent-timed" if leg == "agent" else "Local/customer-timed"
            party = rig.truth.party(call_id, prefix)
            expected = rig.truth.expectation(party) if party else None
            if call_id in stops:
                expected = until(rig.truth, party or "", expected, stops[call_id])
            judged = judge("callrec", leg, loss, expected)
            if judged:
                tracks.append(judged)
    muting = pause_report(rig, pauses)
    rig.sink.tracks.clear()
    rig.sink.muted.clear()
    return PhaseResult(
        cpu,
        whole,
        latencies=latencies[done:],
        failures=TIMER.failures.get("answer", 0) - failed,
        tracks=tracks,
        pauses=muting,
    )


def pause_report(rig: Rig, pauses: dict[str, tuple[float, float]]) -> list[str]:
    """How the muted stretch of each track sits against its pause and resume requests.

    Early: seconds before the pause request that were muted (said, then lost);
    late: seconds after the resume request still muted (lost too). A negative
    figure is audio kept past the request (the mute took effect after it).
    """
    if not pauses:
        return []
    early: list[float] = []
    late: list[float] = []
    unmuted = 0
    for call_id, (paused, resumed) in pauses.items():
        for leg, loss in rig.sink.tracks.get(call_id, {}).items():
            prefix = "Local/agent-timed" if leg == "agent" else "Local/customer-timed"
            party = rig.truth.party(call_id, prefix) or ""
            found = rig.truth.by_name(party)
            expected = rig.truth.expectation(party)
            stretch = rig.sink.muted.get(call_id, {}).get(leg)
            if found is None or expected is None or found[0].bridged_at is None:
                continue
            if stretch is None or loss.start_tone is None:
                unmuted += 1
                continue
            tone_zero = found[0].bridged_at - expected[1]
            # The file's sample at t is the party's tone-time start_tone + t.
            muted_from = tone_zero + loss.start_tone + stretch[0]
            muted_to = tone_zero + loss.start_tone + stretch[1]
            early.append(paused - muted_from)
            late.append(muted_to - resumed)
    if not early:
        return ["pause: no muted stretch found"]
    early.sort()
    late.sort()
    return [
        f"pause {rig.pause:g}s on {len(pauses)} calls, {len(early)} tracks: muted before the "
        f"pause request p50/max {pct(early, 50):.2f}/{early[-1]:.2f}s, still muted after "
        f"the resume request p50/max {pct(late, 50):.2f}/{late[-1]:.2f}s; "
        f"{unmuted} tracks without a muted stretch "
        "(callrec's gaps, silences and intact figure below count the pause)"
    ]


async def pause_recordings(rig: Rig) -> dict[str, tuple[float, float]]:
    """Pause every recording as the console does (AMI MixMonitorMute), in arrival
    order at the arrival rate, and resume each ``rig.pause`` seconds later.
    Returns each call's (pause request, resume request) times (epoch seconds)."""
    registry = rig.service.controller.registry
    calls = sorted(
        rig.service.controller.calls.values(),
        key=lambda c: c.segment.started_at if c.segment else 0.0,
    )

    async def one(i: int, call_id: str, start: float) -> tuple[float, float] | None:
        await pace(i, start, rig.rate)
        try:
            paused = time.time()
            await registry.act(call_id, "pause")
            await asyncio.sleep(max(0.0, paused + rig.pause - time.time()))
            resumed = time.time()
            await registry.act(call_id, "resume")
        except Exception as exc:  # reported; the call is left out of the pause figures
            print(f"warning: pause/resume of call {call_id} failed: {exc!r}")
            return None
        return paused, resumed

    start = time.monotonic()
    done = await asyncio.gather(*(one(i, c.call_id, start) for i, c in enumerate(calls)))
    await asyncio.sleep(1.0)  # talk on, recorded, after the resume
    return {c.call_id: t for c, t in zip(calls, done, strict=True) if t is not None}


async def stop_recordings(rig: Rig) -> dict[str, float]:
    """Stop every recording as the console does (the registry's action: AMI
    StopMixMonitor), in the order the calls arrived, at the arrival rate.
    Returns each call's stop request time (epoch seconds)."""
    registry = rig.service.controller.registry
    calls = sorted(
        rig.service.controller.calls.values(),
        key=lambda c: c.segment.started_at if c.segment else 0.0,
    )
    stops: dict[str, float] = {}
    start = time.monotonic()
    for i, call in enumerate(calls):
        await pace(i, start, rig.rate)
        stops[call.call_id] = time.time()
        try:
            await registry.act(call.call_id, "stop")
        except Exception as exc:  # reported, and the call judged as it ended
            print(f"warning: stop of call {call.call_id} failed: {exc!r}")
            stops.pop(call.call_id)
    await asyncio.sleep(1.0)  # the parties talk on, unrecorded, before they hang up
    return stops


def until(
    truth: CelTruth, party: str, expected: tuple[float, float, float] | None, end: float
) -> tuple[float, float, float] | None:
    """``expected`` (bridged seconds, tone-times of open and close) for a capture
    that should close at the stop request ``end`` instead of the bridge exit."""
    found = truth.by_name(party) if expected else None
    if expected is None or found is None or found[0].bridged_at is None:
        return None
    bridged_at = found[0].bridged_at
    _, opens, _ = expected
    tone_zero = bridged_at - opens
    return (end - bridged_at, opens, end - tone_zero)


async def latency_round(rig: Rig, exten: str, route: str, n: int) -> list[float]:
    """N steady-tone calls into callrec-agi-test,<exten>: the route's latencies."""
    latencies = TIMER.latencies[route]
    start = len(latencies)
    variables = FACTS if route == "answer" else {}
    await place(rig, n, STEADY_CUSTOMER, "callrec-agi-test", exten, variables)

    async def answered() -> bool:
        return len(latencies) - start + TIMER.failures.get(route, 0) >= n

    await wait_until(answered, 30, f"{n} {route} requests")
    await parties_hang_up(rig, "Local/customer@")
    await rig.service.controller.drain()
    return latencies[start:]


def latency_line(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:<26} none"
    p50, p95 = statistics.median(values) * 1e3, pct(values, 95) * 1e3
    return f"{label:<26} n={len(values):4d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"


def cpu_line(label: str, cpu: Cpu, base: Cpu) -> str:
    ratio = cpu.share / base.share if base.share else float("nan")
    return (
        f"  {label:<9} {cpu.share:6.0%} of a core (Asterisk {cpu.asterisk:6.1f}s"
        f" + callrec {cpu.app:5.1f}s in {cpu.wall:5.1f}s); ratio to baseline {ratio:4.2f}"
    )


async def bench(args: argparse.Namespace) -> int:
    n, window = args.calls, args.window
    if args.no_sync:
        os.fsync = lambda fd: None  # this process only: callrec's writes, not Asterisk's
    inst, _ = sandbox.up(f"agibench-{os.getpid()}")
    ari = AriClient(inst.ari_url, inst.ari_user, inst.ari_password, inst.app)
    truth = CelTruth("127.0.0.1", inst.ports.ami, inst.ami_user, inst.ami_secret)
    service: AgiService | None = None
    base: Path | None = None
    try:
        arrival = f"{args.rate:g} calls/s" if args.rate > 0 else "all at once"
        print(
            f"Asterisk: {inst.version.split(' built')[0]}; {os.cpu_count()} cores; "
            f"N = {n}; calls arrive and end at {arrival}; "
            f"the {args.hangup}s hang up; formats {args.formats or 'Asterisk chooses'}; "
            f"CPU window {window:g}s{'; callrec does not fsync' if args.no_sync else ''}"
        )
        base = Path(tempfile.mkdtemp(prefix="agibench-"))  # removed with the sandbox
        (base / "callrec.toml").write_text(POLICY)
        config = load_config(base / "callrec.toml")
        sink = KeepingSink()
        TIMER.install()  # before the service's server registers its routes
        service = AgiService(
            ServiceSettings(),
            lambda: config,
            CallRegistry(),
            Handoff(sink, base / "pending"),
            StateStore(base / "state"),
            inst.monitor_dir,
            f"{inst.ast_dir}/spool/monitor",
            AmiAddress("127.0.0.1", inst.ports.ami, inst.ami_user, inst.ami_secret),
            agi_port=inst.ports.agi,
            agi_secret=inst.agi_secret,
        )
        await service.start()
        assert service.server is not None
        service.server.route("baseline", answer_only)  # dialplan: callrec-agi-test,baseline
        await truth.start()
        rig = Rig(inst, ari, service, sink, truth, args.rate, args.formats)
        rig.hangs_up = f"Local/{args.hangup}-timed"
        rig.stop, rig.pause = args.stop, args.pause

        answer_only_ms: list[float] = []
        decided_ms: list[float] = []
        for _ in range(args.rounds):
            answer_only_ms += await latency_round(rig, "baseline", "baseline", n)
            decided_ms += await latency_round(rig, "dial", "answer", n)

        base_run = await baseline_phase(rig, n, window)
        mine = await callrec_phase(rig, n, window)
        print(f"CPU, steady window with all {n} calls up:")
        print(cpu_line("baseline", base_run.window, base_run.window))
        print(cpu_line("callrec", mine.window, base_run.window))
        print("CPU, whole run (arrivals, talk, hangups, files closed):")
        print(cpu_line("baseline", base_run.whole, base_run.whole))
        print(cpu_line("callrec", mine.whole, base_run.whole))
        print("Answer hook, FastAGI request to decision set and MixMonitor started:")
        print("  " + latency_line("during the capture run", mine.latencies))
        if mine.failures:
            print(f"  {mine.failures} answer requests failed (the dialplan fell back)")
        if args.rounds:
            print(f"Latency rounds ({args.rounds} x {n} calls, steady-tone parties):")
            print("  " + latency_line("answer only (baseline)", answer_only_ms))
            print("  " + latency_line("decision + MixMonitor", decided_ms))
        results = base_run.tracks + mine.tracks
        print(f"Captured / expected per track, N = {n} (expected: Asterisk's CEL bridged time):")
        for line in mine.pauses:
            print("  " + line)
        for kind in ("baseline", "callrec"):
            print("  " + loss_report(results, kind))
            if args.detail:
                for r in results:
                    if r.path_kind == kind:
                        print("      " + r.describe())
        return 0
    finally:
        if service is not None:
            await service.stop()
        await truth.close()
        await ari.close()
        sandbox.stop(inst)
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50, help="concurrent calls (N)")
    parser.add_argument(
        "--rate",
        type=float,
        default=5.0,
        help="calls arriving (and hanging up) per second; 0: all at once",
    )
    parser.add_argument(
        "--formats",
        default="slin",
        help="codec asked of the simulated parties (default slin: their tones are slin, so "
        "no transcoding; '' lets Asterisk choose)",
    )
    parser.add_argument("--window", type=float, default=10.0, help="seconds of steady CPU measured")
    parser.add_argument("--rounds", type=int, default=0, help="latency rounds before the capture")
    parser.add_argument(
        "--hangup",
        choices=("customer", "agent"),
        default="customer",
        help="whose phone ends each capture call (default: the customer's)",
    )
    parser.add_argument(
        "--stop",
        action="store_true",
        help="stop callrec's recordings (console action, AMI StopMixMonitor) 1 s before the "
        "hangups; its tracks are judged against the stop request instead of the bridge exit",
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        help="pause callrec's recordings (console action, AMI MixMonitorMute) this many "
        "seconds before the hangups, and report where the muted stretch falls",
    )
    parser.add_argument(
        "--no-sync",
        action="store_true",
        help="diagnostic: callrec's state and hand-off journal are written without fsync, "
        "to tell what its syncs cost Asterisk's own writes on the same disk",
    )
    parser.add_argument("--detail", action="store_true", help="print every track's analysis")
    return asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
