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

The dialplan path's streams (``tap_agi_service``: AMI events, FastAGI
requests, console requests, reconnects) the same way from ``tests/agi``::

    CALLREC_RECORD_EVENTS=tests/replay/fixtures/ami \\
        .venv/bin/python -m pytest tests/agi -q -k "not fallback and not restart"
"""

from __future__ import annotations

import contextvars
import json
import os
import re
import time
import uuid
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


def tap_registry(registry: CallRegistry, tape: Tape | TapeSwitch) -> None:
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


# ------------------------------------------------------------------ AMI side
# What the dialplan path's replay needs of the AMI stream: parties leaving,
# Asterisk's own transfers, MixMonitor's own start/stop/mute (the truth the
# replay is checked against) and the answer hook's checkbox report.
AMI_EVENTS = frozenset(
    {
        "Hangup",
        "BlindTransfer",
        "AttendedTransfer",
        "MixMonitorStart",
        "MixMonitorStop",
        "MixMonitorMute",
        "UserEvent",
    }
)


class TapeSwitch:
    """The tape of the test running now (the dialplan service is shared by tests)."""

    def __init__(self) -> None:
        self.tape: Tape | None = None

    def write(self, record: dict[str, Any]) -> None:
        if self.tape is not None:
            self.tape.write(record)


def tap_agi_service(service: Any, switch: TapeSwitch) -> None:
    """Record a dialplan service's AMI events and FastAGI requests.

    Install before ``service.start()`` (the FastAGI routes are bound then).
    Each answer request is written before the controller runs, with the
    facts and the ``CALLREC_FROM_AGENT`` it will read (a call without an id
    is given one first, as the controller would, so the stream names it);
    DTMF requests with the channel and call they ran
    on; console requests through the registry; after an AMI reconnect, the
    channels Asterisk still has (``CallrecConnected``).
    """
    from agi_scripts.agi import AgiChannel
    from agi_scripts.facts import facts_expression
    from agi_scripts.translate import FROM_AGENT_EXPRESSION

    controller = service.controller
    answer, dtmf = controller.answer, controller.dtmf

    def on_event(fields: dict[str, str]) -> None:
        switch.write(fields)  # synchronously, in event order, before any handler awaits

    async def recorded_answer(chan: AgiChannel) -> Any:
        raw = await chan.get(facts_expression())
        if not raw.split("|", 1)[0]:
            await chan.set("__CALLREC_CALL_ID", uuid.uuid4().hex)
            raw = await chan.get(facts_expression())
        via = await chan.get(FROM_AGENT_EXPRESSION)
        switch.write(
            {"type": "CallrecAgi", "script": "answer", "uniqueid": chan.uniqueid,
             "channel": chan.name, "facts": raw, "from_agent": via}
        )  # fmt: skip
        return await answer(chan)

    async def recorded_dtmf(chan: AgiChannel, toggle: str) -> str:
        call_id = await chan.get("${CALLREC_CALL_ID}")
        switch.write(
            {"type": "CallrecAgi", "script": toggle, "uniqueid": chan.uniqueid,
             "call_id": call_id}
        )  # fmt: skip
        result: str = await dtmf(chan, toggle)
        return result

    async def reconnected() -> None:
        replies = await service.ami.manager.send_action({"Action": "CoreShowChannels"})
        replies = replies if isinstance(replies, list) else [replies]
        alive = [str(r["Uniqueid"]) for r in replies if r.get("Event") == "CoreShowChannel"]
        switch.write({"type": "CallrecConnected", "channels": alive})

    for name in sorted(AMI_EVENTS):
        service.ami.on(name, on_event)
    service.ami.on_reconnect(reconnected)
    controller.answer = recorded_answer
    controller.dtmf = recorded_dtmf
    tap_registry(controller.registry, switch)
