"""``callrec serve``: run this node's service."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the service: Stasis app, FastAGI, storage, HTTP API and console"
    )
    parser.add_argument(
        "--settings", type=Path, default=None, help="service.toml (default: embedded defaults)"
    )
    parser.add_argument("--policy", type=Path, default=None, help="callrec.toml policy file")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (0: any free port)")
    parser.add_argument("--ready-file", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from callrec.service import serve
    from callrec.settings import SettingsError, load_settings

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        settings = load_settings(args.settings)
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
