from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.console.support import Env, close_env, make_env


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = await make_env(tmp_path)
    try:
        yield e
    finally:
        await close_env(e)


@pytest.fixture(scope="module")
async def shared_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    """Read-mostly data for the permission table (allowed writes use unknown ids)."""
    e = await make_env(tmp_path_factory.mktemp("console"))
    try:
        yield e
    finally:
        await close_env(e)
