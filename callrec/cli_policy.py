"""``callrec check-config``, ``callrec decide`` and ``callrec explain``.

Output and exit codes are a public contract (docs/POLICY.md): scripts and
dialer integrations parse them, so change them only by adding.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from policy import CallFacts, CallFactsError, Config, ConfigError, decide, load_config
from policy.explain import explain

EXIT_OK = 0
EXIT_INVALID = 1  # bad config, or bad call facts for a single --call
EXIT_USAGE = 2  # argparse errors
EXIT_BATCH_ERRORS = 3  # --calls: at least one line was an error object


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check-config", help="validate a policy config (callrec.toml) and its includes"
    )
    check.add_argument("config", type=Path, metavar="CONFIG")
    check.set_defaults(handler=cmd_check_config)

    dec = subparsers.add_parser("decide", help="print the recording decision for call facts")
    dec.add_argument("--config", type=Path, required=True, metavar="CONFIG")
    src = dec.add_mutually_exclusive_group(required=True)
    src.add_argument("--call", metavar="CALL.json", help="one call as a JSON object; - for stdin")
    src.add_argument("--calls", metavar="CALLS.jsonl", help="one call per line; - for stdin")
    dec.set_defaults(handler=cmd_decide)

    exp = subparsers.add_parser("explain", help="explain a decision in plain words")
    exp.add_argument("--config", type=Path, required=True, metavar="CONFIG")
    exp.add_argument("--call", required=True, metavar="CALL.json", help="- for stdin")
    exp.set_defaults(handler=cmd_explain)


def _load(path: Path, err: TextIO) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        for issue in exc.errors:
            print(str(issue), file=err)
        return None


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.config, sys.stderr)
    if config is None:
        return EXIT_INVALID
    print("ok")
    for warning in config.warnings:
        print(f"warning: {warning}")
    return EXIT_OK


def _read_text(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    return Path(name).read_text(encoding="utf-8")


def _error(code: str, message: str, line: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if line is not None:
        body["line"] = line
    return {"error": body}


def _facts_from_text(text: str) -> CallFacts:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _BadInput("invalid_json", f"not valid JSON: {exc.msg} (column {exc.colno})") from exc
    try:
        return CallFacts.from_dict(data)
    except CallFactsError as exc:
        raise _BadInput("invalid_call", str(exc)) from exc


class _BadInput(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, separators=(", ", ": ")))


def cmd_decide(args: argparse.Namespace) -> int:
    config = _load(args.config, sys.stderr)
    if config is None:
        return EXIT_INVALID
    if args.call is not None:
        try:
            facts = _facts_from_text(_read_text(args.call))
        except OSError as exc:
            _emit(_error("unreadable_input", f"cannot read {args.call}: {exc.strerror}"))
            return EXIT_INVALID
        except _BadInput as exc:
            _emit(_error(exc.code, exc.message))
            return EXIT_INVALID
        _emit(decide(config, facts).to_dict())
        return EXIT_OK
    try:
        stream: Iterable[str] = (
            sys.stdin if args.calls == "-" else _read_text(args.calls).splitlines()
        )
    except OSError as exc:
        _emit(_error("unreadable_input", f"cannot read {args.calls}: {exc.strerror}"))
        return EXIT_INVALID
    return _decide_lines(config, stream)


def _decide_lines(config: Config, lines: Iterable[str]) -> int:
    """One output line per input line, same order; a bad line never stops the batch."""
    failed = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            # Keeps output line N paired with input line N; not counted as a failure.
            _emit(_error("blank_line", "blank line: no call to decide", number))
            continue
        try:
            facts = _facts_from_text(line)
        except _BadInput as exc:
            _emit(_error(exc.code, exc.message, number))
            failed = True
            continue
        _emit(decide(config, facts).to_dict())
    return EXIT_BATCH_ERRORS if failed else EXIT_OK


def cmd_explain(args: argparse.Namespace) -> int:
    config = _load(args.config, sys.stderr)
    if config is None:
        return EXIT_INVALID
    try:
        facts = _facts_from_text(_read_text(args.call))
    except OSError as exc:
        print(f"error: cannot read {args.call}: {exc.strerror}", file=sys.stderr)
        return EXIT_INVALID
    except _BadInput as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_INVALID
    print(explain(config, facts, decide(config, facts)))
    return EXIT_OK
