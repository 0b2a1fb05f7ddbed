"""Persisted live-call state: one JSON file per call, written atomically.

Live calls belong to the Asterisk node they run on, so their state is kept on
that node (beside its recordings); what other nodes need (recordings, audit,
outbox) goes to the shared database through ``storage``.
"""

from __future__ import annotations

import json
from pathlib import Path

from callcore.state import CallState
from storage.files import private_dir, write_private


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        private_dir(directory)

    def _path(self, call_id: str) -> Path:
        if not call_id.replace("-", "").isalnum():
            raise ValueError(f"call id {call_id!r} is not safe in a file name")
        return self.directory / f"{call_id}.json"

    def save(self, call: CallState) -> None:
        path = self._path(call.call_id)
        write_private(path, json.dumps(call.to_dict()), sync=True)

    def delete(self, call_id: str) -> None:
        self._path(call_id).unlink(missing_ok=True)

    def load_all(self, source: str | None = None) -> list[CallState]:
        calls = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                call = CallState.from_dict(json.loads(path.read_text()))
            except (ValueError, TypeError, KeyError):
                path.rename(path.with_suffix(".corrupt"))
                continue
            if source is None or call.source == source:
                calls.append(call)
        return calls
