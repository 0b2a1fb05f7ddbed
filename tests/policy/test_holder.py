"""Hot reload: swap on good files, keep the old config on bad ones, watch includes."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from callrec.policy_holder import PolicyHolder
from policy import CallFacts

FACTS = CallFacts.from_dict(
    {"call_id": "c", "direction": "inbound", "agent": "a", "prospect": {"number": "+12125550100"}}
)


def write(path: Path, text: str) -> None:
    path.write_text(text)
    # Make every write visible to mtime polling even on coarse filesystems.
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def make(tmp: Path) -> tuple[Path, Path]:
    main = tmp / "callrec.toml"
    inc = tmp / "agents.toml"
    main.write_text('include = ["agents.toml"]\n[org]\ndefault_mode = "on_demand"\n')
    inc.write_text('[agents.a]\nstate = "NY"\n')
    return main, inc


def test_no_file_runs_with_defaults() -> None:
    holder = PolicyHolder(None)
    assert holder.config.org.default_mode == "on_demand"
    assert holder.reload() == []


def test_reload_good_and_bad(tmp_path: Path) -> None:
    main, _ = make(tmp_path)
    holder = PolicyHolder(main)
    before = holder.decide(FACTS)
    assert before.mode == "on_demand"
    write(main, 'include = ["agents.toml"]\n[org]\ndefault_mode = "all_force"\n')
    assert holder.reload() == []
    assert holder.generation == 1
    after = holder.decide(FACTS)
    assert after.mode == "all_force"
    assert before.mode == "on_demand"  # a decision already handed out never changes

    old = holder.config
    write(main, '[org]\ndefault_mode = "sometimes"\n')
    errors = holder.reload()
    assert len(errors) == 1 and "org.default_mode" in errors[0]
    assert holder.config is old and holder.generation == 1


async def test_watch_picks_up_included_file(tmp_path: Path) -> None:
    main, inc = make(tmp_path)
    holder = PolicyHolder(main)
    assert holder.config.agents["a"].state == "NY"
    task = asyncio.create_task(holder.watch(interval=0.01))
    try:
        write(inc, '[agents.a]\nstate = "TX"\n')
        for _ in range(200):
            await asyncio.sleep(0.01)
            if holder.config.agents["a"].state == "TX":
                break
        assert holder.config.agents["a"].state == "TX"
        # a bad edit is refused once, not retried on every poll
        write(inc, '[agents.a]\nstate = "XX"\n')
        for _ in range(50):
            await asyncio.sleep(0.01)
        assert holder.config.agents["a"].state == "TX"
        assert not holder.changed()
    finally:
        task.cancel()


async def test_sighup_reloads(tmp_path: Path) -> None:
    main, _ = make(tmp_path)
    holder = PolicyHolder(main)
    loop = asyncio.get_running_loop()
    holder.install_sighup(loop)
    try:
        write(main, '[org]\ndefault_mode = "never"\n')
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if holder.generation:
                break
        assert holder.config.org.default_mode == "never"
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


async def test_non_utf8_file_is_refused_and_watching_goes_on(tmp_path: Path) -> None:
    """A file saved as Latin-1 is refused with a clear message; later valid edits still load."""
    main, inc = make(tmp_path)
    holder = PolicyHolder(main)
    task = asyncio.create_task(holder.watch(interval=0.01))
    try:
        inc.write_bytes('# Agent "Jos\u00e9"\n[agents.a]\nstate = "TX"\n'.encode("latin-1"))
        stamp = inc.stat().st_mtime_ns + 1_000_000_000
        os.utime(inc, ns=(stamp, stamp))
        for _ in range(50):
            await asyncio.sleep(0.01)
        assert holder.config.agents["a"].state == "NY"
        assert not task.done()
        errors = holder.reload()
        assert len(errors) == 1 and "not UTF-8" in errors[0] and "0xe9" in errors[0]
        write(inc, '[agents.a]\nstate = "TX"\n')
        for _ in range(200):
            await asyncio.sleep(0.01)
            if holder.config.agents["a"].state == "TX":
                break
        assert holder.config.agents["a"].state == "TX"
        assert not task.done()
    finally:
        task.cancel()
