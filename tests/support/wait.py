"""Poll until a condition holds, for tests on real parts that answer in their own time."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

import pytest


async def wait_for(
    probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.05
) -> Any:
    """Return the probe's first truthy value; fail the test after ``timeout`` s.

    The probe may be plain or return an awaitable (e.g. an HTTP check).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(interval)
