"""FastAGI decision latency under concurrent calls, against a real Asterisk.

    python bench/agi_bench.py [--quick] [--calls N] [--rounds R]

Starts its own Asterisk sandbox (and stops it), runs callrec's AGI service
on its AGI port, and originates N simultaneous calls (simulated customer ->
Dial -> simulated agent, campaign all_calls, both sides recorded) per round.
Each request is timed around its route's handler (from the AGI request's
start to the decision set and MixMonitor started), by a wrapper this script
puts around the server's routes: the production server keeps no timings.
As a baseline in the same run, the same number of calls hit a FastAGI
handler that only answers (a route this script adds). Prints p50/p95 of
both and their ratio.

Then (``--talk`` seconds, 0 to skip) N calls whose simulated parties play
time-encoding tones stay up, through callrec's FastAGI route and through the
plain-dialplan MixMonitor baseline: each track's captured / expected length
(expected: the bridged time in Asterisk's CEL; p1, p50, short tracks) and
where the missing audio is (head, gaps, tail).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
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

from agi_scripts.agi import AgiChannel
from agi_scripts.server import AgiServer, Route
from agi_scripts.service import AgiService
from ari_app.client import AriClient, AriUnavailable
from callcore.ami import AmiAddress
from callcore.finish import Handoff
from callcore.registry import CallRegistry
from callcore.state_store import StateStore
from callrec import sandbox
from callrec.settings import ServiceSettings
from policy import load_config

POLICY = """
[campaigns.bench]
mode = "all_calls"
[agents.1001]
state = "NY"
"""


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
    """The baseline: a FastAGI handler that only answers."""
    await chan.request.send_command("ANSWER")


async def run_round(
    ari: AriClient,
    service: AgiService,
    exten: str,
    route: str,
    calls: int,
    variables: dict[str, str],
) -> list[float]:
    latencies = TIMER.latencies[route]
    start = len(latencies)
    began = time.monotonic()
    ids = await asyncio.gather(
        *(
            ari.originate(
                "Local/customer@callrec-sim/n",
                context="callrec-agi-test",
                extension=exten,
                priority=1,
                variables=variables,
            )
            for _ in range(calls)
        )
    )
    deadline = time.monotonic() + 30
    while len(latencies) - start < calls and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    got = latencies[start:]
    answered = time.monotonic()
    await asyncio.sleep(0.5)
    # Concurrently: hanging 50 calls up one by one takes tens of seconds.
    await asyncio.gather(*(ari.hangup(c["id"]) for c in ids), return_exceptions=True)
    for _ in range(200):
        if not await ari.list_channels():
            break
        await asyncio.sleep(0.1)
    failures = TIMER.failures.get(route, 0)
    print(
        f"  {route}: answered in {answered - began:.1f}s,"
        f" hung up in {time.monotonic() - answered:.1f}s"
    )
    if len(got) < calls:
        print(f"  {route}: only {len(got)}/{calls} answered ({failures} failures)")
    return got


async def hang_up_everything(ari: AriClient) -> None:
    channels = await ari.list_channels()
    await asyncio.gather(*(ari.hangup(c["id"]) for c in channels), return_exceptions=True)
    for _ in range(300):
        try:
            if not await ari.list_channels():
                return
        except AriUnavailable:  # Asterisk busy tearing 200 channels down: ask again
            pass
        await asyncio.sleep(0.1)


async def wait_channels(ari: AriClient, n: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while len(await ari.list_channels()) < n and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


async def capture_phase(
    inst: sandbox.Instance,
    ari: AriClient,
    service: AgiService,
    sink: AnalysingSink,
    calls: int,
    talk: float,
    facts: dict[str, str],
) -> list[TrackResult]:
    """Calls with timed parties through both routes; every track judged against CEL."""
    truth = CelTruth("127.0.0.1", inst.ports.ami, inst.ami_user, inst.ami_secret)
    await truth.start()
    try:
        customer = "Local/customer-timed@callrec-sim/n"
        for _ in range(calls):
            await ari.originate(customer, context="callrec-sim-mixmonitor-timed", extension="s")
        await wait_channels(ari, 4 * calls)
        await asyncio.sleep(talk)
        await hang_up_everything(ari)
        await asyncio.sleep(1.5)  # MixMonitor's files close, CEL's bridge exits arrive
        results = await judge_mixmonitor(inst.monitor_dir, truth)

        sink.analyse, before = True, sink.count
        for _ in range(calls):
            await ari.originate(
                customer, context="callrec-agi-bench-timed", extension="dial", variables=facts
            )
        await wait_channels(ari, 4 * calls)
        await asyncio.sleep(talk)
        await hang_up_everything(ari)
        await service.controller.drain()
        deadline = time.monotonic() + 60
        while sink.count - before < calls and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)
        for call_id, legs in sink.tracks.items():
            for leg, loss in legs.items():
                prefix = "Local/agent-timed" if leg == "agent" else "Local/customer-timed"
                party = truth.party(call_id, prefix)
                judged = judge("callrec", leg, loss, truth.expectation(party) if party else None)
                if judged:
                    results.append(judged)
        return results
    finally:
        await truth.close()


async def bench(calls: int, rounds: int, talk: float = 8.0) -> int:
    inst, _ = sandbox.up(f"agibench-{os.getpid()}")
    ari = AriClient(inst.ari_url, inst.ari_user, inst.ari_password, inst.app)
    service: AgiService | None = None
    try:
        print(f"Asterisk: {inst.version.split(' built')[0]}; {calls} concurrent calls x {rounds}")
        base = Path(tempfile.mkdtemp(prefix="agibench-"))
        (base / "callrec.toml").write_text(POLICY)
        config = load_config(base / "callrec.toml")
        sink = AnalysingSink(analyse=False)  # only the capture phase's tracks carry timed tones
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
        decision: list[float] = []
        baseline: list[float] = []
        facts = {
            "__CALLREC_AGENT": "1001",
            "__CALLREC_CAMPAIGN": "bench",
            "__CALLREC_NUMBER": "+12125550100",
        }
        for _ in range(rounds):
            baseline += await run_round(ari, service, "baseline", "baseline", calls, {})
            decision += await run_round(ari, service, "dial", "answer", calls, facts)
        await service.controller.drain()
        if not decision or not baseline:
            print("no measurements: see the Asterisk log", inst.log_file)
            return 1
        b50, b95 = statistics.median(baseline) * 1e3, pct(baseline, 95) * 1e3
        d50, d95 = statistics.median(decision) * 1e3, pct(decision, 95) * 1e3
        print(
            f"baseline (answer only)    n={len(baseline):4d}  p50 {b50:7.2f} ms  p95 {b95:7.2f} ms"
        )
        print(
            f"decision + MixMonitor     n={len(decision):4d}  p50 {d50:7.2f} ms  p95 {d95:7.2f} ms"
        )
        print(f"ratio decision/baseline   p50 {d50 / b50:5.1f}x        p95 {d95 / b95:5.1f}x")
        print(f"segments handed off: {sink.count}")
        if talk > 0:
            results = await capture_phase(inst, ari, service, sink, calls, talk, facts)
            print(f"Captured / expected per track, {calls} calls of ~{talk:g}s (CEL bridged time):")
            for kind in ("baseline", "callrec"):
                print("  " + loss_report(results, kind))
        return 0
    finally:
        if service is not None:
            await service.stop()
        await ari.close()
        sandbox.stop(inst)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 calls, one round")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--talk", type=float, default=8.0, help="seconds the capture-length calls stay up (0: skip)"
    )
    args = parser.parse_args()
    calls, rounds = (20, 1) if args.quick else (args.calls, args.rounds)
    return asyncio.run(bench(calls, rounds, args.talk))


if __name__ == "__main__":
    sys.exit(main())
