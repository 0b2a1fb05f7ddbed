"""The ``callrec`` command: one entry point, one module per group of subcommands.

Each group lives in its own ``callrec/cli_*.py`` module exposing
``register(subparsers)``; the module is imported only when listed here, so a
broken optional part never hides ``--help`` of the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add subcommands, in --help order.
COMMAND_MODULES: tuple[str, ...] = (
    "callrec.cli_serve",
    "callrec.cli_asterisk",
    "callrec.cli_policy",
    "callrec.cli_storage",
    "callrec.cli_users",
    "callrec.cli_verify",
    "callrec.cli_audit",
    "callrec.cli_doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callrec",
        description="Consent-aware call recording for Asterisk call centers.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # group not built yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    code = handler(args)
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
