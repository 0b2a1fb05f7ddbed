from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callrec.sandbox import Instance
from tests.ari.harness import Stack


@pytest.fixture
async def stack(asterisk: Instance, tmp_path: Path, no_leaks: None) -> AsyncIterator[Stack]:
    s = Stack(asterisk, tmp_path)
    await s.start()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def snoopstack(asterisk: Instance, tmp_path: Path, no_leaks: None) -> AsyncIterator[Stack]:
    """The same stack capturing with snoops (``[ari] capture = "snoop"``)."""
    s = Stack(asterisk, tmp_path, capture="snoop")
    await s.start()
    try:
        yield s
    finally:
        await s.close()
