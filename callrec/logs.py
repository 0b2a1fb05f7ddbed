"""Log set-up for ``callrec serve``: plain text, or one JSON object per line.

JSON lines carry ``call_id``, ``segment`` and ``recording_id`` whenever the line
is about a call, so an operator can pull one call's story out of a day's log
with ``jq 'select(.call_id == "...")'``. A line is about a call when code bound
the call (``callcore.log_context``), or when one of its arguments is an id of a
call in progress (call id, channel id, recording id, capture name), or of one
that ended recently: ``CallFields`` looks them up in the live-call registry,
so the call paths need not thread the ids through every log call.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Literal

from callcore.log_context import FIELDS, CallContextFilter
from callcore.state import CallState

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, call fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """The plain format, with ``[call=… seg=… rec=…]`` appended when known."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        parts = [f"{key}={getattr(record, key)}" for key in FIELDS if getattr(record, key, None)]
        return f"{text} [{' '.join(parts)}]" if parts else text


class CallFields(logging.Filter):
    """Adds the call fields to records whose arguments name a call's id.

    ``calls`` returns the calls in progress and ``lookup`` finds one by call id
    (a dict lookup): a line naming a call id gets that call's current fields
    and refreshes its other ids (channels, recording, captures) in the table.
    The table is rebuilt from all calls at most every ``max_age`` seconds, or
    when a line names an id it lacks, so a busy log does not walk every call
    per line.
    Ended calls are remembered in a bounded table (``remember`` ids), so lines
    written just after a call ends still carry its fields, and no memory grows
    with the day's calls.
    """

    def __init__(
        self,
        calls: Callable[[], Iterable[CallState]],
        lookup: Callable[[str], CallState | None] | None = None,
        remember: int = 4096,
        max_age: float = 0.25,
    ) -> None:
        super().__init__()
        self.calls = calls
        self.lookup = lookup
        self.remember = remember
        self.max_age = max_age
        self._recent: OrderedDict[str, dict[str, str | int]] = OrderedDict()
        self._built_at = -1e9

    def filter(self, record: logging.LogRecord) -> bool:
        bound = getattr(record, "call_id", None)
        if bound is not None:
            if getattr(record, "recording_id", None) is not None:
                return True
            tokens = [str(bound)]  # bound by the code: add the segment it is on now
        else:
            args = record.args if isinstance(record.args, tuple) else ()
            tokens = [a for a in args if isinstance(a, str) and len(a) >= 8]
        if not tokens:
            return True
        try:
            live = self._live(tokens)
            if live is not None:
                for key, value in self._remember(live).items():
                    setattr(record, key, value)
                return True
            now = time.monotonic()
            fresh = now - self._built_at <= self.max_age
            if not fresh:
                self._rebuild(now)
            fields = self._find(tokens)
            if fields is None and fresh:
                self._rebuild(now)
                fields = self._find(tokens)
        except RuntimeError:  # the registry changed under a thread's log call: skip, never fail
            return True
        for key, value in (fields or {}).items():
            setattr(record, key, value)
        return True

    def _find(self, tokens: list[str]) -> dict[str, str | int] | None:
        for token in tokens:
            fields = self._recent.get(token)
            if fields:
                return fields
        return None

    def _live(self, tokens: list[str]) -> CallState | None:
        if self.lookup is None:
            return None
        for token in tokens:
            call = self.lookup(token)
            if call is not None:
                return call
        return None

    def _remember(self, call: CallState) -> dict[str, str | int]:
        """The call's fields now, entered under each of its ids."""
        fields: dict[str, str | int] = {"call_id": call.call_id}
        keys = [call.call_id, *call.channels.values()]
        seg = call.segment
        if seg is not None:
            fields["segment"] = seg.segment_no
            fields["recording_id"] = seg.recording_id
            keys.append(seg.recording_id)
            keys.extend(c.handle for c in seg.captures.values())
        for key in keys:
            if key:
                self._recent[key] = fields
                self._recent.move_to_end(key)
        return fields

    def _rebuild(self, now: float) -> None:
        live = 0
        for call in list(self.calls()):
            live += 1 + len(call.channels) + (2 + len(call.segment.captures) if call.segment else 0)
            self._remember(call)
        # Never forget a live call's ids: the bound grows with the calls in progress.
        while len(self._recent) > max(self.remember, 2 * live):
            self._recent.popitem(last=False)
        self._built_at = now


def setup_logging(level: str = "INFO", fmt: Literal["text", "json"] | str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CallContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def watch_calls(
    calls: Callable[[], Iterable[CallState]],
    lookup: Callable[[str], CallState | None] | None = None,
) -> CallFields:
    """From now on, root handlers add the fields of the call a line names."""
    found = CallFields(calls, lookup)
    for handler in logging.getLogger().handlers:
        handler.addFilter(found)
    return found
