"""The policy config in force, swapped atomically on reload.

A reload builds a complete new ``Config`` and only then replaces the
reference; a bad file is refused and the old config stays. Calls in progress
are untouched because call paths keep the ``Decision`` they got for each
segment (decisions are immutable values); only segments decided after the
swap see the new config.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

from policy import CallFacts, Config, ConfigError, Decision, decide, default_config, load_config

log = logging.getLogger("callrec.policy")


class PolicyHolder:
    """Holds the current Config; ``reload()``, ``watch()`` and SIGHUP swap it."""

    def __init__(self, path: Path | str | None, config: Config | None = None) -> None:
        self.path = Path(path) if path is not None else None
        if config is None:
            config = load_config(self.path) if self.path is not None else default_config()
        self._config = config
        self._mtimes = self._snapshot()
        self.generation = 0  # bumped on every successful swap

    @property
    def config(self) -> Config:
        return self._config

    def decide(self, facts: CallFacts) -> Decision:
        return decide(self._config, facts)

    def reload(self) -> list[str]:
        """Load the file again; returns the errors (empty when the new config is in force)."""
        if self.path is None:
            return []
        try:
            new = load_config(self.path)
        except ConfigError as exc:
            errors = [str(e) for e in exc.errors]
        except Exception as exc:
            errors = [f"{self.path}: cannot load: {type(exc).__name__}: {exc}"]
        else:
            errors = []
        if errors:
            for error in errors:
                log.error("policy reload refused: %s", error)
            log.error("policy reload refused; the previous config stays in force")
            self._mtimes = self._snapshot()  # do not retry the same bad file every poll
            return errors
        self._config = new
        self._mtimes = self._snapshot()
        self.generation += 1
        for warning in new.warnings:
            log.warning("policy config: %s", warning)
        log.info("policy config reloaded from %s (%d files)", self.path, len(new.files))
        return []

    def _watched(self) -> list[Path]:
        files = list(self._config.files)
        if self.path is not None and self.path.resolve() not in files:
            files.append(self.path.resolve())
        return files

    def _snapshot(self) -> dict[Path, tuple[int, int] | None]:
        snap: dict[Path, tuple[int, int] | None] = {}
        for file in self._watched():
            try:
                stat = file.stat()
                snap[file] = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                snap[file] = None
        return snap

    def changed(self) -> bool:
        return self._snapshot() != self._mtimes

    async def watch(self, interval: float = 2.0) -> None:
        """Poll the mtimes of the main file and every included file; reload on change.

        New files matching an include glob are picked up on SIGHUP or when a
        watched file changes, since only known files are polled.
        """
        while True:
            await asyncio.sleep(interval)
            try:
                if self.changed():
                    self.reload()
            except Exception:
                log.exception("policy watcher: reload failed; still watching")
                self._mtimes = self._snapshot()

    def install_sighup(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Reload on SIGHUP, the usual admin gesture after editing a file."""
        loop = loop or asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, self.reload)
