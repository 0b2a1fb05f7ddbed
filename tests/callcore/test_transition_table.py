"""docs/ARCHITECTURE.md shows the machine's transitions as the machine makes them."""

from __future__ import annotations

from pathlib import Path

from callcore import transition_table
from callcore.machine import STATES

DOC = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"


def test_committed_table_is_what_the_machine_generates() -> None:
    text = DOC.read_text()
    assert transition_table.splice(text) == text, (
        "docs/ARCHITECTURE.md is stale: run "
        ".venv/bin/python -m callcore.transition_table --write docs/ARCHITECTURE.md"
    )


def test_table_covers_every_state_class() -> None:
    sampled = {type(state) for state in transition_table.STATES}
    assert sampled == set(STATES)
    names = {row[0].split(" ")[0] for row in transition_table.rows()}
    assert names == {cls.name for cls in STATES}
