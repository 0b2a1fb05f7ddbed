"""``callrec doctor``: check this node's deployment; non-zero exit on any problem."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the deployment: Asterisk (ARI, AMI, dialplan, features), FastAGI, "
        "directories, database, upload target, clocks, disk",
    )
    parser.add_argument(
        "--settings", type=Path, default=None, help="this node's service.toml ($CALLREC_SETTINGS)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document, for monitoring")
    parser.add_argument(
        "--min-free-mb",
        type=int,
        default=1024,
        help="free disk below this (MiB) in a recording or store directory is a problem",
    )
    parser.set_defaults(handler=_doctor)


def _doctor(args: argparse.Namespace) -> int:
    from callrec.doctor import render_json, render_text

    checks = asyncio.run(diagnose(args.settings, args.min_free_mb))
    print(render_json(checks) if args.json else render_text(checks))
    return 0 if all(c.ok for c in checks) else 1


async def diagnose(settings_file: Path | None, min_free_mb: int = 1024) -> list[Any]:
    """Every check for the node described by ``settings_file`` (or $CALLREC_SETTINGS)."""
    from callrec import doctor_asterisk as da
    from callrec import doctor_node as dn
    from callrec.doctor import Check, ok, problem, run_all
    from callrec.service import asterisk_link
    from callrec.settings import SettingsError, load_settings, settings_path

    try:
        path = settings_path(settings_file)
        settings = load_settings(path, "serve")
        link = asterisk_link(settings)
    except SettingsError as exc:
        return [problem("settings", f"[{exc.code}] {exc}", "fix service.toml (docs/OPERATIONS.md)")]
    cli = da.cli_runner(settings)

    async def sync(fn: Any, *a: Any) -> list[Check]:
        result: list[Check] = await asyncio.to_thread(fn, *a)
        return result

    checks = await run_all(
        [
            ("ari", lambda: da.ari_checks(link, settings)),
            ("ami", lambda: da.ami_checks(link, cli)),
            ("dialplan", lambda: da.dialplan_checks(cli, settings, link)),
            ("dirs", lambda: sync(dn.dir_checks, link, settings)),
            ("dirs.monitor.asterisk", lambda: sync(da.monitor_dir_check, cli, link)),
            ("db", lambda: sync(dn.db_checks, settings)),
            ("upload", lambda: dn.upload_checks(settings)),
            ("disk", lambda: sync(dn.disk_checks, link, settings, min_free_mb)),
        ]
    )
    return [ok("settings", f"{path} read"), *checks]
