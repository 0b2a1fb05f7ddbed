"""docs/CONSOLE.md's route table is the route table: regenerate it with
``.venv/bin/python -m tests.console.test_docs_table`` when routes change."""

from __future__ import annotations

import re
from pathlib import Path

from callcore.registry import CallRegistry
from console.app import build_app
from console.openapi import markdown_table
from console.routes import ROUTES

DOC = Path(__file__).parents[2] / "docs" / "CONSOLE.md"
TABLE = re.compile(r"^\| method \| path \|.*?\n(?=\n)", re.S | re.M)


def generated() -> str:
    return markdown_table(build_app(CallRegistry())[ROUTES])


def test_console_doc_lists_every_route_as_registered() -> None:
    found = TABLE.search(DOC.read_text())
    assert found, "docs/CONSOLE.md has no route table"
    assert found.group(0) == generated(), (
        "docs/CONSOLE.md's route table is stale: "
        "run .venv/bin/python -m tests.console.test_docs_table"
    )


if __name__ == "__main__":
    text = DOC.read_text()
    DOC.write_text(TABLE.sub(lambda _m: generated(), text, count=1))
