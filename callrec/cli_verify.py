"""``callrec verify --since DATE``: check captures against Asterisk's record, print gaps.

Every recording since DATE is checked against its files and the call's
bridged span from Asterisk's CEL (``call_spans``); bridged calls with no
recording are gaps. Outcomes are stored; the report prints counts by outcome
and each problem with call id, agent, campaign and reason. Exit status: 0 all
verified (or not recorded by decision), 3 when there is any gap or failed
check, 1 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from callrec.cli_storage import settings_parent, storage_config
from callrec.settings import SettingsError
from storage.errors import StorageError

PROBLEMS_EXIT = 3


def parse_since(text: str) -> datetime:
    """An ISO date or date-time (UTC unless it says otherwise), or a span back (``2h``)."""
    value = text.strip()
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if value[:-1].isdigit() and value[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[value[-1]]: int(value[:-1])})
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected a date (2026-12-01), a date-time "
            "(2026-12-01T14:00) or a span back (90m, 2h, 7d)"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _run(args: argparse.Namespace) -> int:
    from storage.db import open_database
    from storage.verification import verify

    try:
        since = parse_since(args.since)
    except ValueError as exc:
        print(f"error [verify.bad_since]: {exc}", file=sys.stderr)
        return 1
    try:
        cfg = storage_config(args)
    except StorageError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 1
    except SettingsError as exc:
        print(f"error [{exc.code}]: {exc}", file=sys.stderr)
        return 1
    db = open_database(cfg.db_url)
    try:
        report = verify(db, cfg.store_root, since=since, node=args.node)
    finally:
        db.dispose()
    print(render(report, since))
    return PROBLEMS_EXIT if report.problems else 0


def render(report: Any, since: datetime) -> str:
    lines = [f"capture verification since {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC"]
    total = sum(report.counts.values())
    lines.append(f"  checked: {total}")
    for outcome, n in sorted(report.counts.items()):
        lines.append(f"  {outcome:<26} {n}")
    if report.problems:
        lines.append(f"problems ({len(report.problems)}):")
    for p in report.problems:
        figures = ""
        if p.expected_seconds is not None:
            got = "-" if p.captured_seconds is None else f"{p.captured_seconds:.2f}s"
            figures = f" [captured {got} of {p.expected_seconds:.2f}s expected]"
        lines.append(
            f"  {p.outcome}: call {p.call_id or '(never controlled)'} "
            f"agent {p.agent or '-'} campaign {p.campaign or '-'}"
            f"{' recording ' + p.recording_id if p.recording_id else ''}"
            f"{' linkedid ' + p.linkedid if p.linkedid else ''}: {p.reason}{figures}"
        )
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "verify",
        parents=[settings_parent()],
        help="check recordings against Asterisk's own record; report gaps",
    )
    p.add_argument("--since", required=True, help="ISO date/date-time (UTC) or 90m / 2h / 7d")
    p.add_argument("--node", help="only calls of this node's Asterisk")
    p.set_defaults(handler=_run)
