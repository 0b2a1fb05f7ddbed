"""Record what a Stasis app hears into a replay fixture (JSON lines).

Set ``CALLREC_RECORD_EVENTS`` to a directory and run the integration tests on
the sandbox Asterisk; every test that builds a Stasis stack writes
``<dir>/<test name>.jsonl``: each ARI websocket event as Asterisk sent it,
plus each call as callrec set it up (``CallrecCall``: its facts and
channels), what the agent asked through the API (``CallrecAction``,
``CallrecTransfer``) and, after each (re)connect, the channels Asterisk
reported (``CallrecConnected``). The replay tests in ``tests/replay/`` play
these back through the call machine with no Asterisk. To regenerate::

    CALLREC_RECORD_EVENTS=tests/replay/fixtures/ari \\
        .venv/bin/python -m pytest tests/ari -q -k "not sip"
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ari_app.app import StasisApp
from ari_app.client import CONNECTED_EVENT, AriClient
from callcore.registry import CallRegistry
from callcore.state import CallState

ENV = "CALLREC_RECORD_EVENTS"
# Set while the Stasis app acts on DTMF: those actions are in the stream as
# digits already, so only the API's are written as CallrecAction.
_FROM_DTMF: contextvars.ContextVar[bool] = contextvars.ContextVar("from_dtmf", default=False)


def fixture_path() -> Path | None:
    """Where the running test's stream goes, or None when not recording."""
    directory = os.environ.get(ENV)
    if not directory:
        return None
    test = os.environ.get("PYTEST_CURRENT_TEST", "stream").split(" ")[0].split("::")[-1]
    return Path(directory) / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', test)}.jsonl"


class Tape:
    """Appends records with the time since the tape began."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.path.write_text("")
        self.t0 = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"_t": round(time.monotonic() - self.t0, 4), **record})
        with self.path.open("a") as out:
            out.write(line + "\n")


class RecordingAriClient(AriClient):
    """An ARI client whose event stream is also written to a tape."""

    tape: Tape

    async def events(self, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        async for event in super().events(**kwargs):
            if event.get("type") == CONNECTED_EVENT:
                channels = await self.list_channels()
                self.tape.write({**event, "channels": [c["id"] for c in channels]})
            else:
                self.tape.write(event)
            yield event


def tap_registry(registry: CallRegistry, tape: Tape) -> None:
    """Record the agent's API requests, which never reach the event stream."""
    act, transfer, register = registry.act, registry.transfer, registry.register
    seen: dict[str, dict[str, Any]] = {}

    def recorded_register(call: CallState, controller: Any) -> None:
        facts = {
            "type": "CallrecCall",
            "call_id": call.call_id,
            "direction": call.direction,
            "agent": call.agent,
            "campaign": call.campaign,
            "queue": call.queue,
            "lead_list": call.lead_list,
            "customer_number": call.customer_number,
            "prospect_state": call.prospect_state,
            "channels": dict(call.channels),
        }
        if seen.get(call.call_id) != facts:
            seen[call.call_id] = facts
            tape.write(facts)
        register(call, controller)

    async def recorded_act(call_id: str, action: str) -> CallState:
        if not _FROM_DTMF.get():
            tape.write({"type": "CallrecAction", "call_id": call_id, "action": action})
        return await act(call_id, action)

    async def recorded_transfer(call_id: str, agent: str, continue_recording: bool) -> CallState:
        tape.write(
            {
                "type": "CallrecTransfer",
                "call_id": call_id,
                "agent": agent,
                "continue_recording": continue_recording,
            }
        )
        return await transfer(call_id, agent, continue_recording)

    registry.act = recorded_act  # type: ignore[method-assign]
    registry.transfer = recorded_transfer  # type: ignore[method-assign]
    registry.register = recorded_register  # type: ignore[method-assign]


def tap_app(app: StasisApp) -> None:
    """Mark the app's DTMF actions so the registry tap leaves them out."""
    dtmf_action = app._dtmf_action

    async def marked(call: CallState, toggle: str) -> None:
        _FROM_DTMF.set(True)  # this task's context only
        await dtmf_action(call, toggle)

    app._dtmf_action = marked  # type: ignore[method-assign]
