"""``callrec doctor``: is this node's deployment whole, checked against the real parts.

Every check asks the part itself (ARI, AMI, Asterisk's CLI, the database, the
upload target, the file system), never callrec's own idea of it, and answers
ok or problem with the fix an operator should make. The checks live in
``callrec.doctor_asterisk`` and ``callrec.doctor_node``; this module runs them
and renders the report.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Check:
    """One finding: ``id`` is stable (for monitoring), ``fix`` is set on problems."""

    id: str
    ok: bool
    detail: str
    fix: str = ""

    @property
    def status(self) -> str:
        return "ok" if self.ok else "problem"


def ok(check_id: str, detail: str) -> Check:
    return Check(check_id, True, detail)


def problem(check_id: str, detail: str, fix: str) -> Check:
    return Check(check_id, False, detail, fix)


MAX_SKEW_SECONDS = 2.0


def clock_skew(check_id: str, what: str, skew: float, tolerance: float = 0.0) -> Check:
    """``skew`` seconds between another part's clock and this node's; ``tolerance`` for
    the part's resolution (whole seconds for Asterisk and SQLite)."""
    text = f"{what}'s clock is {skew:+.1f}s from this node's"
    if abs(skew) > MAX_SKEW_SECONDS + tolerance:
        return problem(
            check_id, text, "run NTP (chrony or systemd-timesyncd) on every host of the site"
        )
    return ok(check_id, text)


CheckFn = Callable[[], Awaitable[list[Check]]]


async def run_all(checks: Sequence[tuple[str, CheckFn]]) -> list[Check]:
    """Run each group; a group that raises is one problem, never a crash of the others."""
    found: list[Check] = []
    for group, fn in checks:
        try:
            found.extend(await fn())
        except Exception as exc:  # report it, keep checking the rest
            found.append(
                problem(
                    group,
                    f"the check itself failed: {type(exc).__name__}: {exc}",
                    "see the message; run `callrec doctor` again after fixing it",
                )
            )
    return found


def render_text(checks: Sequence[Check]) -> str:
    lines = []
    for c in checks:
        lines.append(f"{c.status:<8} {c.id:<20} {c.detail}")
        if c.fix:
            lines.append(f"{'':<8} {'':<20} fix: {c.fix}")
    bad = sum(not c.ok for c in checks)
    lines.append(f"{len(checks)} checks, {bad} problem(s)")
    return "\n".join(lines)


def render_json(checks: Sequence[Check]) -> str:
    return json.dumps(
        {
            "ok": all(c.ok for c in checks),
            "problems": sum(not c.ok for c in checks),
            "checks": [{"status": c.status, **asdict(c)} for c in checks],
        },
        indent=2,
    )
