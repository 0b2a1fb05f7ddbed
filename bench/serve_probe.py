"""`callrec serve` with a probe of what its Python heap holds (soak diagnostics).

    python bench/serve_probe.py OUT_FILE serve --settings service.toml ...

Runs the CLI unchanged, plus a SIGUSR2 handler: the first signal records a
baseline, each later one appends to OUT_FILE what grew since: live objects
by type (``gc``), asyncio tasks by coroutine, threads, and, when
``CALLREC_PROBE_TRACEMALLOC=N`` started tracemalloc with N frames, the source
lines whose allocations grew most. Only `bench/soak.py --probe` uses it; the
product has no such hook, so nothing of it runs in production.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import signal
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TOP = 25


def _types() -> Counter[str]:
    gc.collect()
    return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())


def _name(o: object) -> str:
    return f"{type(o).__module__}.{type(o).__qualname__}"


def _samples(kinds: list[str], old: set[int], per_kind: int = 3) -> list[str]:
    """A few objects of each kind born since the baseline, and who holds them."""
    lines: list[str] = []
    seen: Counter[str] = Counter()
    for o in gc.get_objects():
        kind = _name(o)
        if kind not in kinds or id(o) in old or seen[kind] >= per_kind:
            continue
        seen[kind] += 1
        holders = Counter(_name(r) for r in gc.get_referrers(o) if not isinstance(r, list))
        lines.append(f"  {kind}: {repr(o)[:120]}  held by {dict(holders.most_common(3))}")
    return lines


def _tasks() -> Counter[str]:
    try:
        tasks = asyncio.all_tasks()
    except RuntimeError:  # the signal arrived outside the loop
        return Counter()
    return Counter(getattr(t.get_coro(), "__qualname__", repr(t.get_coro())) for t in tasks)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]  # fmt: skip


def _heap() -> str:
    """Python's live blocks and glibc's heap: in use versus held free (fragmentation)."""
    line = f"python blocks {sys.getallocatedblocks()}"
    try:
        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = _Mallinfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return line
    mib = 1 << 20
    return (
        f"{line}; glibc heap: in use {m.uordblks / mib:.1f} MiB, held free "
        f"{m.fordblks / mib:.1f} MiB, mmapped {m.hblkhd / mib:.1f} MiB"
    )


def _threads() -> Counter[str]:
    return Counter(t.name.rstrip("0123456789_") for t in threading.enumerate())


def _growth(name: str, before: Counter[str], after: Counter[str], top: int = TOP) -> list[str]:
    diff = Counter({k: after[k] - before[k] for k in after.keys() | before.keys()})
    rows = [(k, n) for k, n in diff.most_common() if n > 0][:top]
    head = f"{name}: {sum(before.values())} -> {sum(after.values())}"
    return [head, *(f"  {n:+7d} {k} (now {after[k]})" for k, n in rows)]


class Probe:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.base: tuple[Counter[str], Counter[str], Counter[str]] | None = None
        self.snap: tracemalloc.Snapshot | None = None
        self.old: set[int] = set()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        started = time.monotonic()
        now = (_types(), _tasks(), _threads())
        snap = tracemalloc.take_snapshot() if tracemalloc.is_tracing() else None
        if self.base is None:
            self.base, self.snap = now, snap
            self.old = {id(o) for o in gc.get_objects()}
            lines = ["baseline taken", _heap()]
        else:
            lines = [_heap()]
            for name, before, after in zip(
                ("objects", "tasks", "threads"), self.base, now, strict=True
            ):
                lines += _growth(name, before, after)
            grew = [k for k, n in (now[0] - self.base[0]).most_common(5)]
            lines.append("some objects of the kinds that grew most, born since the baseline:")
            lines += _samples(grew, self.old)
            if snap is not None and self.snap is not None:
                lines.append("allocations grown (tracemalloc):")
                for stat in snap.compare_to(self.snap, "traceback")[:TOP]:
                    where = " <- ".join(
                        f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in stat.traceback
                    )
                    lines.append(
                        f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} {where}"
                    )
        took = time.monotonic() - started
        with self.out.open("a") as fh:
            fh.write(f"== probe at {time.strftime('%H:%M:%S')} ({took:.2f}s)\n")
            fh.write("\n".join(lines) + "\n")


def main() -> int:
    out, argv = Path(sys.argv[1]), sys.argv[2:]
    frames = int(os.environ.get("CALLREC_PROBE_TRACEMALLOC", "0") or 0)
    if frames:
        tracemalloc.start(frames)
    signal.signal(signal.SIGUSR2, Probe(out))
    from callrec.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main())
