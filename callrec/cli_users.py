"""``callrec user hash|add|check``: console users (see docs/CONSOLE.md)."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("user", help="console users: hash a password, add, check")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="hash | add NAME --role R | check F")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from console.users import main

    return main(list(args.args))
