"""Session-wide real parts. A part that cannot be had fails the run; never a skip."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from ari_app.client import AriClient
from callrec import sandbox
from tests.support.ari_events import EventLog


@pytest.fixture(scope="session")
def asterisk() -> Iterator[sandbox.Instance]:
    """One real Asterisk for the whole session, on free loopback ports."""
    try:
        inst, _ = sandbox.up(f"pytest-{os.getpid()}", app="callrec-test")
    except sandbox.SandboxError as exc:  # fail loudly: CI must never skip these
        pytest.fail(f"the Asterisk sandbox could not start [{exc.code}]: {exc}", pytrace=False)
    yield inst
    sandbox.stop(inst)
    left = sandbox.leftovers(inst)
    assert not left, f"the sandbox left behind: {left}"


@pytest.fixture
def own_asterisk() -> Iterator[sandbox.Instance]:
    """An Asterisk for one test, when the session's shared one will not do (its
    FastAGI port is held all session by the dialplan tests' server)."""
    try:
        inst, _ = sandbox.up(f"own-{os.getpid()}", app="callrec")
    except sandbox.SandboxError as exc:
        pytest.fail(f"the Asterisk sandbox could not start [{exc.code}]: {exc}", pytrace=False)
    yield inst
    sandbox.stop(inst)
    left = sandbox.leftovers(inst)
    assert not left, f"the sandbox left behind: {left}"


@pytest.fixture(scope="session")
async def ari(asterisk: sandbox.Instance) -> AsyncIterator[AriClient]:
    client = AriClient(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, asterisk.app)
    yield client
    await client.close()


@pytest.fixture
async def ari_events(ari: AriClient) -> AsyncIterator[EventLog]:
    log = EventLog(ari)
    await log.start()
    yield log
    await log.stop()


@pytest.fixture
async def no_leaks(ari: AriClient) -> AsyncIterator[None]:
    """Assert a test leaves no channel or bridge behind in Asterisk."""
    yield
    import asyncio

    for _ in range(50):
        channels = await ari.list_channels()
        bridges = await ari.list_bridges()
        if not channels and not bridges:
            return
        await asyncio.sleep(0.1)
    names = [c["name"] for c in channels]
    pytest.fail(f"leaked channels {names} and bridges {[b['id'] for b in bridges]}")


_REAL_PARTS = ("asterisk", "sshd", "postgres", "browser", "baresip")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    """Note the real parts a test is marked with (its keywords also hold folder
    names, so a checkout in a folder named "baresip" would count every test)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    parts = [part for part in _REAL_PARTS if item.get_closest_marker(part)]
    report.user_properties.append(("real_parts", parts))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how many tests ran against each real part, so a reader can count them."""
    counts = dict.fromkeys(_REAL_PARTS, 0)
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            if getattr(report, "when", "call") != "call":
                continue
            marked = dict(getattr(report, "user_properties", [])).get("real_parts", [])
            for part in marked:
                counts[part] += 1
    line = ", ".join(f"{part}: {n}" for part, n in counts.items())
    terminalreporter.write_line(f"tests executed against real parts: {line}")
