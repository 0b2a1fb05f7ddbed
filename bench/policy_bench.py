"""Decisions per second of the policy engine, number parsing included.

Builds a realistic config in memory (50 campaigns, 2,000 agents, queues and
lead lists), decides on varied calls (every call has its own number, in the
formats call paths see) and compares with the cost of ``phonenumbers.parse``
alone on the same numbers, so the engine's overhead is visible as a ratio.

    python bench/policy_bench.py [--quick] [--calls N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import phonenumbers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import policy.numbers
from policy import CallFacts, Config, decide
from policy.area_codes import shipped_table
from policy.config import ConfigFile

MODES = ["never", "on_demand", "all_calls", "all_force"]
POST = ["follow_global", "never", "on_demand", "all_force"]
STATES = sorted(set(shipped_table().values()))


def build_config(rng: random.Random) -> Config:
    campaigns = {
        f"camp{i:02d}": {
            "mode": MODES[i % 4],
            "post_transfer": POST[(i // 4) % 4],
            "lists": [str(1000 + i * 10 + k) for k in range(10)],
            **({"announcement": f"announce-{i}"} if i % 3 == 0 else {}),
        }
        for i in range(50)
    }
    agents = {}
    for i in range(2000):
        agent: dict[str, object] = {"record_percent": rng.choice([0, 0, 10, 25, 50])}
        if i % 50 == 0:
            agent["country"] = rng.choice(["GB", "CA", "PH"])
        else:
            agent["state"] = rng.choice(STATES)
        if i % 40 == 0:
            agent["mode"] = "all_calls"
        if i % 97 == 0:
            agent["permit_recordings"] = False
        agents[f"a{i:04d}"] = agent
    queues = {
        f"q{i}": {"record_percent": rng.choice([0, 5, 20]), "announcement": f"q-{i}"}
        for i in range(20)
    }
    raw = {
        "consent": {
            "mode": "either_location",
            "never_record_states": ["MT"],
            "international": {"restrict_to_countries": True, "countries": ["CA", "GB"]},
        },
        "campaigns": campaigns,
        "agents": agents,
        "queues": queues,
    }
    return Config(model=ConfigFile.model_validate(raw), area_codes=shipped_table())


def make_numbers(rng: random.Random, n: int) -> list[str]:
    codes = sorted(shipped_table())
    out = []
    for _ in range(n):
        roll = rng.random()
        area = rng.choice(codes)
        line = f"{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        if roll < 0.6:
            out.append(f"+1{area}{line}")
        elif roll < 0.8:
            out.append(f"{area}{line}")
        elif roll < 0.87:
            out.append(f"({area}) {line[:3]}-{line[3:]}")
        elif roll < 0.92:
            out.append(f"+44 20 7{rng.randint(100, 999)} {rng.randint(1000, 9999)}")
        elif roll < 0.96:
            out.append(f"+1 416 {line[:3]} {line[3:]}")
        else:
            out.append(rng.choice(["anonymous", "", "withheld", "12ab"]))
    return out


def make_calls(rng: random.Random, numbers: list[str]) -> list[CallFacts]:
    calls = []
    for i, number in enumerate(numbers):
        post = i % 5 == 0
        campaign = f"camp{rng.randrange(50):02d}"
        calls.append(
            CallFacts(
                call_id=f"1700000000.{i}",
                direction="outbound" if i % 3 else "inbound",
                agent=f"a{rng.randrange(2100):04d}",  # some unlisted agents
                campaign=campaign,
                lead_list=str(1000 + rng.randrange(600)) if i % 2 else None,
                queue=f"q{rng.randrange(20)}" if i % 3 == 0 else None,
                prospect_number=number,
                phase="post_transfer" if post else "initial",
                continue_recording=post and i % 2 == 0,
            )
        )
    return calls


def rate(fn: object, n: int) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer calls (about a second)")
    parser.add_argument("--calls", type=int, default=None)
    args = parser.parse_args(argv)
    n = args.calls or (20_000 if args.quick else 200_000)
    rng = random.Random(20240601)
    config = build_config(rng)
    numbers = make_numbers(rng, n)
    calls = make_calls(rng, numbers)
    region = config.org.default_region

    def parse_only() -> None:
        unparseable = 0
        for number in numbers:
            try:
                phonenumbers.parse(number, region)
            except phonenumbers.NumberParseException:
                unparseable += 1

    def decide_all() -> None:
        for facts in calls:
            decide(config, facts)

    def decide_library_only() -> None:
        policy.numbers.FAST_NANP = False
        try:
            decide_all()
        finally:
            policy.numbers.FAST_NANP = True

    parse_only()  # warm up every path once
    decide_all()
    # Best of several interleaved rounds: the machine is shared, noise is large.
    rounds = 3 if args.quick else 5
    parse_rate = decide_rate = library_rate = 0.0
    for _ in range(rounds):
        parse_rate = max(parse_rate, rate(parse_only, n))
        decide_rate = max(decide_rate, rate(decide_all, n))
        library_rate = max(library_rate, rate(decide_library_only, n))
    print(f"calls: {n} (varied numbers; 50 campaigns, 2000 agents, 20 queues), best of {rounds}")
    print(f"parse only (phonenumbers.parse):        {parse_rate:10,.0f} /s")
    print(f"decide (parse included):                {decide_rate:10,.0f} /s")
    print(f"decide, every number via the library:   {library_rate:10,.0f} /s")
    print(f"ratio decide / parse-only:              {decide_rate / parse_rate:10.2f}")
    print(f"ratio decide (library only) / parse:    {library_rate / parse_rate:10.2f}")
    target = 20_000
    print(f"target {target:,} decisions/s: {'met' if decide_rate >= target else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
