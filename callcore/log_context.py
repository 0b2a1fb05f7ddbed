"""Which call a log line is about, carried by a context variable.

A call path binds the call id (and the segment and recording id once known)
around the work for that call; every log record made meanwhile, in any module,
carries them (``callrec.logs`` adds them to each line). ``extra={"call_id": ...}``
on a single log call works too and wins over the context.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

FIELDS = ("call_id", "segment", "recording_id")

_current: ContextVar[dict[str, str | int] | None] = ContextVar("callrec_call", default=None)


def bind(**fields: str | int | None) -> None:
    """Add fields for the rest of this task (asyncio copies context per task)."""
    merged = dict(_current.get() or {})
    merged.update({k: v for k, v in fields.items() if k in FIELDS and v is not None})
    _current.set(merged)


@contextlib.contextmanager
def about(**fields: str | int | None) -> Iterator[None]:
    """Bind fields for the duration of a block, then restore what was there."""
    token = _current.set(dict(_current.get() or {}))
    try:
        bind(**fields)
        yield
    finally:
        _current.reset(token)


def current() -> dict[str, str | int]:
    return dict(_current.get() or {})


class CallContextFilter(logging.Filter):
    """Copies the bound fields onto each record that does not name them itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True
