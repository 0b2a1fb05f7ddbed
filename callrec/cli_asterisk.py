"""``callrec asterisk up|down|status|cli``: the local Asterisk sandbox;
``print-config``: the snippets to add to an existing Asterisk for this node."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from callrec import sandbox


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("asterisk", help="start, stop or inspect the Asterisk sandbox")
    sub = parser.add_subparsers(dest="asterisk_command", metavar="ACTION", required=True)

    build = sub.add_parser("build", help="build (or check) the cached Debian sid root")
    build.set_defaults(handler=_build)

    up = sub.add_parser("up", help="start Asterisk (builds the cached sid root on first use)")
    up.add_argument("--name", default="default", help="instance name (default: default)")
    up.add_argument("--app", default="callrec", help="Stasis application name")
    for key in ("http", "ami", "agi", "sip"):
        up.add_argument(f"--{key}-port", type=int, default=0, help=f"fixed {key} port")
    up.add_argument(
        "--stasis-fallback",
        choices=("agent", "none"),
        default="agent",
        help="what the dialplan records when the Stasis app is down",
    )
    up.set_defaults(handler=_up)

    down = sub.add_parser("down", help="stop Asterisk; leaves no process, mount or port")
    down.add_argument("--name", default="default")
    down.set_defaults(handler=_down)

    status = sub.add_parser("status", help="is it running, and where")
    status.add_argument("--name", default="default")
    status.add_argument("--json", action="store_true", help="machine-readable, with credentials")
    status.set_defaults(handler=_status)

    pc = sub.add_parser(
        "print-config",
        help="print what to add to an existing Asterisk for this node (docs/INSTALL.md)",
    )
    pc.add_argument(
        "--settings", type=Path, default=None, help="this node's service.toml ($CALLREC_SETTINGS)"
    )
    pc.add_argument(
        "--etc-dir", type=Path, default=Path("/etc/asterisk"), help="Asterisk's config directory"
    )
    pc.set_defaults(handler=_print_config)

    cli = sub.add_parser("cli", help="run one Asterisk CLI command")
    cli.add_argument("--name", default="default")
    cli.add_argument("command", nargs="+")
    cli.set_defaults(handler=_cli)


def _describe(inst: sandbox.Instance) -> str:
    return (
        f"Asterisk {inst.name!r} running (pid {inst.pid}, {inst.mode})\n"
        f"  ARI      {inst.ari_url}  (app {inst.app}, user {inst.ari_user})\n"
        f"  AMI      127.0.0.1:{inst.ports.ami}\n"
        f"  FastAGI  agi://127.0.0.1:{inst.ports.agi}  (served by callrec)\n"
        f"  SIP      udp 127.0.0.1:{inst.ports.sip}\n"
        f"  files    {inst.host_dir}\n"
        f"  log      {inst.log_file}"
    )


def _build(args: argparse.Namespace) -> int:
    try:
        mode = sandbox.asterisk_mode()
        if mode == "system":
            print("callrec: using the installed asterisk; no root to build")
            return 0
        root = sandbox.ensure_rootfs()
    except sandbox.SandboxError as exc:
        print(f"error [{exc.code}]: {exc}")
        return 1
    print(f"callrec: Asterisk root ready: {(root / sandbox.COMPLETE_MARKER).read_text().strip()}")
    return 0


def _up(args: argparse.Namespace) -> int:
    ports = {k: getattr(args, f"{k}_port") for k in ("http", "ami", "agi", "sip")}
    try:
        inst, started = sandbox.up(
            args.name,
            app=args.app,
            requested_ports={k: v for k, v in ports.items() if v},
            stasis_fallback=args.stasis_fallback,
        )
    except sandbox.SandboxError as exc:
        print(f"error [{exc.code}]: {exc}")
        return 1
    if not started:
        print("already running:")
    print(_describe(inst))
    return 0


def _down(args: argparse.Namespace) -> int:
    inst = sandbox.load_instance(args.name)
    if not sandbox.down(args.name):
        print(
            f"Asterisk {args.name!r} was not running" + (" (stale state removed)" if inst else "")
        )
        return 0
    left = sandbox.leftovers(inst) if inst else []
    if left:
        print(f"stopped, but left behind: {', '.join(left)}")
        return 1
    print(f"Asterisk {args.name!r} stopped; no process, mount or port left")
    return 0


def _status(args: argparse.Namespace) -> int:
    inst = sandbox.load_instance(args.name)
    if inst is None or not inst.alive():
        state = "stale state: pid gone" if inst else "not running"
        print(json.dumps({"running": False}) if args.json else f"Asterisk {args.name!r}: {state}")
        return 3
    if args.json:
        print(json.dumps({"running": True, **asdict(inst)}, indent=2))
    else:
        print(_describe(inst))
    return 0


def _cli(args: argparse.Namespace) -> int:
    inst = sandbox.load_instance(args.name)
    if inst is None or not inst.alive():
        print(f"Asterisk {args.name!r} is not running: start it with `callrec asterisk up`")
        return 3
    print(inst.cli(" ".join(args.command)), end="")
    return 0


def _print_config(args: argparse.Namespace) -> int:
    from callrec.asterisk_config import render, snippets
    from callrec.settings import SettingsError, load_settings, settings_path

    try:
        settings = load_settings(settings_path(args.settings), "serve")
        print(render(snippets(settings), args.etc_dir), end="")
    except SettingsError as exc:
        print(f"error [{exc.code}]: {exc}", file=sys.stderr)
        return 1
    return 0
