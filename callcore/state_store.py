"""Persisted live-call state: one JSON file per call, written atomically.

Live calls belong to the Asterisk node they run on, so their state is kept on
that node (beside its recordings); what other nodes need (recordings, audit,
outbox) goes to the shared database through ``storage``. Files written by an
older callrec are migrated on load; a file that cannot be read is salvaged
and its call flagged, so a live recording is never dropped (the original is
kept beside it as ``.corrupt`` for the admin).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from callcore.ids import safe_id
from callcore.state import CallState
from callcore.state_migrate import load, salvage
from storage.files import private_dir, write_private

log = logging.getLogger("callrec.state")


class StateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        private_dir(directory)

    def _path(self, call_id: str) -> Path:
        if not safe_id(call_id):
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
            call = self._load(path)
            if call is not None and (source is None or call.source == source):
                calls.append(call)
        return calls

    def _load(self, path: Path) -> CallState | None:
        data: object = None
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not an object")
            return load(data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            call = salvage(data, path.stem)
            log.error(
                "call state %s unreadable (%s); %s",
                path.name,
                exc,
                "its capture is delivered flagged" if call else "nothing to deliver",
            )
            path.with_suffix(".corrupt").write_bytes(path.read_bytes())
            if call is None:
                path.unlink()
                return None
            self.save(call)  # from now on a readable file
            return call
