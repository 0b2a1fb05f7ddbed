"""Cost of the call fields on log lines (``callrec.logs.CallFields``).

Formats the same JSON log lines, each naming one of N live calls, with and
without the filter that finds the call a line is about, and prints the ratio:
what ``--log-format json`` with call fields costs over plain JSON lines.

    python bench/log_bench.py [--calls N] [--lines N]
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from callcore.state import CallState, Capture, Segment
from callrec.logs import CallFields, JsonFormatter


def make_calls(n: int) -> list[CallState]:
    calls = []
    for i in range(n):
        call = CallState(call_id=f"{i:032x}", source="ari", direction="outbound", agent="a1")
        call.channels = {"customer": f"chan-c-{i}", "agent": f"chan-a-{i}"}
        seg = Segment(recording_id=f"{i:031x}r", segment_no=1, agent="a1", legs="both", decision={})
        seg.captures["agent"] = Capture(leg="agent", handle=f"cap-a-{i}", host_path="/x")
        call.segment = seg
        calls.append(call)
    return calls


def run(calls: list[CallState], lines: int, with_fields: bool) -> float:
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(JsonFormatter())
    if with_fields:
        by_id = {c.call_id: c for c in calls}  # the service looks calls up in its registry
        handler.addFilter(CallFields(lambda: calls, by_id.get))
    log = logging.getLogger(f"bench.{with_fields}")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    started = time.perf_counter()
    for n in range(lines):
        log.info("call %s: event %d", calls[n % len(calls)].call_id, n)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--lines", type=int, default=20000)
    args = parser.parse_args()
    calls = make_calls(args.calls)
    base = min(run(calls, args.lines, False) for _ in range(3))
    fields = min(run(calls, args.lines, True) for _ in range(3))
    print(
        f"{args.lines} JSON lines over {args.calls} live calls: plain {base:.3f}s "
        f"({1e6 * base / args.lines:.1f} us/line), with call fields {fields:.3f}s "
        f"({1e6 * fields / args.lines:.1f} us/line), ratio {fields / base:.2f}"
    )


if __name__ == "__main__":
    main()
