"""Errors raised at the edges of the policy engine.

Config errors are collected, not raised one at a time, so an admin fixing a
file sees every problem in one run of ``callrec check-config``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a config file, located as precisely as we can."""

    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """The config was refused; ``errors`` lists every issue found."""

    def __init__(self, errors: list[ConfigIssue]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class CallFactsError(ValueError):
    """Call facts that cannot be decided on (missing or mistyped keys)."""
