"""Log set-up for ``callrec serve``: plain text, or one JSON object per line.

JSON lines carry ``call_id``, ``segment`` and ``recording_id`` whenever the line
is about a call (``callcore.log_context``), so an operator can pull one call's
story out of a day's log with ``jq 'select(.call_id == "...")'``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

from callcore.log_context import FIELDS, CallContextFilter

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


def setup_logging(level: str = "INFO", fmt: Literal["text", "json"] | str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(CallContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
