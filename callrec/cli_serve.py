"""``callrec serve`` (a node, from its ``service.toml``) and ``callrec demo``."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the service: Stasis app, FastAGI, storage, HTTP API and console"
    )
    parser.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="this node's service.toml (default: $CALLREC_SETTINGS; required)",
    )
    _common(parser)
    parser.set_defaults(handler=_serve)

    demo = subparsers.add_parser(
        "demo",
        help="run the service on embedded defaults against the sandbox instance 'default' "
        "(SQLite and files under ./var)",
    )
    demo.add_argument("--instance", default="default", help="sandbox instance to use")
    _common(demo)
    demo.set_defaults(handler=_demo)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", type=Path, default=None, help="callrec.toml policy file")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (0: any free port)")
    parser.add_argument("--ready-file", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per line, with call_id, segment and recording_id",
    )


def _serve(args: argparse.Namespace) -> int:
    from callrec.settings import SettingsError, load_settings, settings_path

    try:
        settings = load_settings(settings_path(args.settings), "serve")
    except SettingsError as exc:
        print(f"error [{exc.code}]: {exc}")
        return 1
    return _run(settings, args)


def _demo(args: argparse.Namespace) -> int:
    from callrec.settings import AsteriskSettings, load_settings

    settings = load_settings(None)
    # The demo's parties are the sandbox's simulated ones: slin, no transcoding.
    endpoints = settings.endpoints.model_copy(update={"formats": "slin"})
    update = {"asterisk": AsteriskSettings(instance=args.instance), "endpoints": endpoints}
    settings = settings.model_copy(update=update)
    return _run(settings, args)


def _run(settings: Any, args: argparse.Namespace) -> int:
    from callrec.logs import setup_logging
    from callrec.service import serve
    from callrec.settings import SettingsError

    setup_logging(args.log_level, args.log_format)
    try:
        update: dict[str, Any] = {}
        if args.policy is not None:
            update["policy_config"] = args.policy.resolve()
        if args.port is not None:
            update["http"] = settings.http.model_copy(update={"port": args.port})
        settings = settings.model_copy(update=update)
        asyncio.run(serve(settings, args.ready_file))
    except SettingsError as exc:
        print(f"error [{exc.code}]: {exc}")
        return 1
    except KeyboardInterrupt:
        pass
    return 0
