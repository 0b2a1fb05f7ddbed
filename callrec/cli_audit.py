"""``callrec audit verify``: walk the audit log's hash chain and name the first broken link.

Read-only and without migrating, so it can run under the service's restricted
database role (or a read-only one). Exit status 0: the chain verifies; 1: a
link is broken (its id and what is wrong are printed); 2: the database could
not be read. The tip hash printed on success can be noted elsewhere (a
ticket, a print-out): a later run that does not reach the same tip shows that
entries at the end were removed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from callrec.cli_storage import settings_parent, storage_config
from callrec.settings import SettingsError


def _verify(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from storage import audit
    from storage.db import open_database

    try:
        url = storage_config(args).db_url
    except SettingsError as exc:
        print(f"error [{exc.code}]: {exc}", file=sys.stderr)
        return 1
    try:
        db = open_database(url, migrate=False)
        try:
            with db.session() as s:
                report = audit.verify(s)
        finally:
            db.dispose()
    except SQLAlchemyError as exc:
        print(
            f"error [audit.unreadable]: {type(exc).__name__}: {getattr(exc, 'orig', None) or exc}",
            file=sys.stderr,
        )
        return 2
    if not report.ok:
        print(
            f"audit chain BROKEN at entry {report.broken_at}: {report.problem} "
            f"({report.checked} entries before it verified)"
        )
        return 1
    if args.expect_tip and args.expect_tip != report.tip:
        print(f"audit chain verifies but ends at {report.tip}, not the expected {args.expect_tip}")
        return 1
    print(
        f"audit chain OK: {report.checked} entries ({report.redacted} redacted by erasure); "
        f"tip {report.tip}"
    )
    return 0


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("audit", help="the audit log's integrity")
    sub = group.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = sub.add_parser(
        "verify",
        parents=[settings_parent()],
        help="check the hash chain; name the first broken link",
    )
    verify.add_argument("--expect-tip", help="the tip hash a previous run printed")
    verify.set_defaults(handler=_verify)
