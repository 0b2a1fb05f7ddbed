"""``callrec`` subcommands for storage: database, CRM, rematch, retention,
outbox, recordings and erasure.

The CLI acts as the local administrator (``cli`` actor with ``admin``), so it
goes through the same service methods, checks and audit log as the web API.
Errors print their stable code and exit with status 1.

They read the ``[storage]`` table of the node's ``service.toml``, the same
file ``callrec serve`` reads (``--settings`` or ``$CALLREC_SETTINGS``); with
no file, ``--db`` or ``$CALLREC_DB`` must name the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from callrec.settings import SettingsError
from storage.config import StorageConfig
from storage.errors import StorageError

Handler = Callable[[argparse.Namespace], int]


def storage_config(args: argparse.Namespace) -> StorageConfig:
    """The [storage] table of the node's settings file (every storage command's)."""
    from callrec.settings import SETTINGS_ENV, SettingsMissing, load_settings

    path = args.settings or os.environ.get(SETTINGS_ENV)
    if path:
        cfg = load_settings(Path(path), "storage").storage
    elif args.db or os.environ.get("CALLREC_DB"):
        cfg = StorageConfig().resolved(Path.cwd())
    else:
        raise SettingsMissing(
            f"no settings file: pass --settings service.toml or set {SETTINGS_ENV} "
            "(the file `callrec serve` reads), or name the database with --db or $CALLREC_DB"
        )
    if args.db:
        cfg = cfg.model_copy(update={"db_url": args.db}).resolved(Path.cwd())
    return cfg


def _service(args: argparse.Namespace) -> Any:
    from storage.service import StorageService

    return StorageService.open(storage_config(args))


def _actor() -> Any:
    from storage.permissions import Actor, Permission

    return Actor(f"cli:{os.environ.get('USER', 'unknown')}", frozenset({Permission.ADMIN}))


def _wrap(fn: Handler) -> Handler:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except StorageError as exc:
            print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
            return 1
        except SettingsError as exc:
            print(f"error [{exc.code}]: {exc}", file=sys.stderr)
            return 1

    return run


def _db_upgrade(args: argparse.Namespace) -> int:
    from storage.db import current_revision, make_engine, upgrade

    engine = make_engine(storage_config(args).db_url)
    upgrade(engine)
    print(f"database at revision {current_revision(engine)}")
    engine.dispose()
    return 0


def _crm_import(args: argparse.Namespace) -> int:
    svc = _service(args)
    try:
        if args.from_table:
            res = asyncio.run(svc.import_crm_table(_actor()))
        else:
            if not args.file:
                print("error: FILE or --from-table is required", file=sys.stderr)
                return 2
            res = asyncio.run(svc.import_crm(_actor(), Path(args.file), args.kind, args.format))
    finally:
        svc.close()
    for p in res.problems:
        print(f"warning: {p}", file=sys.stderr)
    print(
        f"imported {args.kind if not args.from_table else 'table'}: {res.created} created, "
        f"{res.updated} updated, {res.skipped} skipped, {len(res.problems)} problem(s)"
    )
    return 0


def _rematch(args: argparse.Namespace) -> int:
    svc = _service(args)
    try:
        n = asyncio.run(svc.rematch(_actor()))
    finally:
        svc.close()
    print(f"assigned {n} recording(s)")
    return 0


def _retention(args: argparse.Namespace) -> int:
    svc = _service(args)
    try:
        out = asyncio.run(svc.run_retention(_actor()))
    finally:
        svc.close()
    print(f"deleted {len(out.deleted)} recording(s); {len(out.refused)} kept by holds or rules")
    return 0


def _outbox_status(args: argparse.Namespace) -> int:
    svc = _service(args)
    try:
        st = asyncio.run(svc.outbox_status())
    finally:
        svc.close()
    print(
        f"pending {st.pending} (due {st.pending_due}, in flight {st.in_flight}), done {st.done}, "
        f"cancelled {st.cancelled}, max attempts {st.max_attempts}, oldest {st.oldest_pending}"
    )
    for code, message, at in st.alerts:
        print(f"ALERT [{code}] since {at:%Y-%m-%d %H:%M:%S}Z: {message}")
    for item_id, name, attempts, err in st.last_errors:
        print(f"  item {item_id} {name} attempts={attempts}: {err}")
    return 1 if st.alerts else 0


def _outbox_drain(args: argparse.Namespace) -> int:
    svc = _service(args)
    try:
        if svc.target is None:
            print("uploads are switched off (storage.upload.type = 'none')")
            return 0
        res = asyncio.run(svc.drain_outbox(args.workers))
    finally:
        svc.close()
    print(
        f"uploaded {res.uploaded}, already present {res.already_present}, "
        f"deleted {res.deleted}, failed {res.failed}"
    )
    if res.blocked:
        print(
            f"error [{res.blocked}]: uploads stopped; see 'callrec outbox status'", file=sys.stderr
        )
        return 1
    return 0


def _recordings_list(args: argparse.Namespace) -> int:
    svc = _service(args)
    try:
        state = "unassigned" if args.unassigned else args.state
        rows = asyncio.run(svc.list_recordings(_actor(), state=state, limit=args.limit))
    finally:
        svc.close()
    for v in rows:
        print(
            f"{v.id}  {v.started_at:%Y-%m-%d %H:%M}  {v.state:<10}  {v.agent:<12}  "
            f"{v.campaign or '-':<12}  {v.customer_e164 or '-':<16}  {v.duration_seconds:8.1f}s  "
            f"{','.join(v.flags)}"
        )
    return 0


def _erase(args: argparse.Namespace) -> int:
    svc = _service(args)
    try:
        res = asyncio.run(svc.erase_number(_actor(), args.number, args.reason))
    finally:
        svc.close()
    print(f"erased {len(res.deleted)} recording(s) of {res.number}; kept by hold: {len(res.held)}")
    for rid in res.held:
        print(f"  held: {rid}")
    return 0


def settings_parent() -> argparse.ArgumentParser:
    """``--settings`` and ``--db``: how every command that touches storage finds it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--settings",
        help="this node's service.toml, whose [storage] table to use (default: "
        "$CALLREC_SETTINGS); the file `callrec serve` reads",
    )
    common.add_argument("--db", help="database URL, overriding [storage] db_url and $CALLREC_DB")
    return common


def register(subparsers: Any) -> None:
    common = settings_parent()

    def add(parent: Any, name: str, fn: Handler, help_: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(name, parents=[common], help=help_)
        p.set_defaults(handler=_wrap(fn))
        return p

    db = subparsers.add_parser("db", help="recordings database")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    add(db_sub, "upgrade", _db_upgrade, "create or migrate the schema")

    crm = subparsers.add_parser("crm", help="CRM records")
    crm_sub = crm.add_subparsers(dest="crm_command", metavar="ACTION")
    p = add(crm_sub, "import", _crm_import, "import records from CSV/JSON or the mapped table")
    p.add_argument("file", nargs="?")
    p.add_argument("--format", choices=["csv", "json"])
    p.add_argument("--kind", choices=["individual", "agent", "sales"], default="individual")
    p.add_argument("--from-table", action="store_true", help="use [storage.crm_table]")

    add(subparsers, "rematch", _rematch, "assign unassigned recordings to matching records")

    ret = subparsers.add_parser("retention", help="retention rules")
    ret_sub = ret.add_subparsers(dest="retention_command", metavar="ACTION")
    add(ret_sub, "run", _retention, "apply the retention rules now")

    ob = subparsers.add_parser("outbox", help="upload outbox")
    ob_sub = ob.add_subparsers(dest="outbox_command", metavar="ACTION")
    add(ob_sub, "status", _outbox_status, "pending items, errors and alerts")
    p = add(ob_sub, "drain", _outbox_drain, "upload and delete everything due now")
    p.add_argument("--workers", type=int, default=None)

    rec = subparsers.add_parser("recordings", help="stored recordings")
    rec_sub = rec.add_subparsers(dest="recordings_command", metavar="ACTION")
    p = add(rec_sub, "list", _recordings_list, "list recordings, newest first")
    p.add_argument("--unassigned", action="store_true")
    p.add_argument("--state", choices=["assigned", "unassigned", "deleted"])
    p.add_argument("--limit", type=int, default=50)

    p = add(subparsers, "erase", _erase, "erase a customer's recordings (erasure request)")
    p.add_argument("--number", required=True)
    p.add_argument("--reason", default="customer erasure request")
