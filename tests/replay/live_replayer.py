"""Play a recorded dialplan-path stream through the live adapter itself
(``agi_scripts.controller.AgiController``) with fake ports.

The AMI and each FastAGI session are fakes that answer from the stream: a
channel's facts and ``CALLREC_FROM_AGENT`` from its answer request, a
transferring agent's checkbox from the value Asterisk reported for it, a
channel exists until its Hangup (or, after a reconnect, unless listed).
What the controller does (AMI actions, AGI commands, hand-offs) is only
logged. Records are played in their recorded order; after each one the
event loop runs until every task is waiting, as it would between two events
arriving from Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, cast

from agi_scripts.agi import AgiChannel
from agi_scripts.controller import AgiController
from agi_scripts.facts import facts_expression
from agi_scripts.translate import CONTINUE_EVENT, FROM_AGENT_EXPRESSION
from callcore.actions import ActionRefused
from callcore.ami import Ami, AmiError
from callcore.finish import Handoff
from callcore.ids import CONTINUE_VAR
from callcore.mixmonitor import MonitorDir
from callcore.registry import CallRegistry
from callcore.state import CallState, Segment
from callcore.state_store import StateStore
from policy import Config


class FakeAmi:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.handlers: dict[str, list[Any]] = defaultdict(list)
        self.reconnect: list[Any] = []
        self.log: list[tuple[str, dict[str, str]]] = []
        self.reads: list[tuple[str, str]] = []  # Getvar (channel, variable)
        self.gone: set[str] = set()
        self.listed: set[str] | None = None  # after a reconnect: the channels Asterisk has
        # Each agent's checkbox, as Asterisk reported it when the channel left.
        self.checkbox = {
            e["Uniqueid"]: e.get("Value", "")
            for e in events
            if e.get("Event") == "UserEvent" and e.get("UserEvent") == CONTINUE_EVENT
        }

    def on(self, event: str, handler: Any) -> None:
        self.handlers[event].append(handler)

    def on_reconnect(self, handler: Any) -> None:
        self.reconnect.append(handler)

    def dispatch(self, event: dict[str, str]) -> list[Awaitable[None]]:
        results = [h(event) for h in self.handlers.get(event.get("Event", ""), [])]
        return [r for r in results if r is not None]

    async def action(self, name: str, **fields: str) -> dict[str, str]:
        self.log.append((name, fields))
        return {"Response": "Success"}

    async def getvar(self, channel: str, variable: str) -> str:
        self.reads.append((channel, variable))
        if channel in self.gone or (self.listed is not None and channel not in self.listed):
            raise AmiError("Getvar: No such channel")
        return self.checkbox.get(channel, "") if variable == CONTINUE_VAR else ""

    async def setvar(self, channel: str, variable: str, value: str) -> None:
        self.log.append(("Setvar", {"Channel": channel, "Variable": variable, "Value": value}))


class FakeChan(AgiChannel):
    """One FastAGI session, answering from its recorded request."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.request = None
        self.uniqueid = record["uniqueid"]
        self.name = record.get("channel", "")
        self.script = record["script"]
        self.values = {
            facts_expression(): record.get("facts", ""),
            FROM_AGENT_EXPRESSION: record.get("from_agent", ""),
            "${CALLREC_CALL_ID}": record.get("call_id", ""),
        }
        self.sets: dict[str, str] = {}
        self.execs: list[tuple[str, str]] = []

    async def get(self, expression: str) -> str:
        return self.values.get(expression, "")

    async def set(self, name: str, value: str) -> None:
        self.sets[name] = value

    async def exec(self, app: str, data: str = "") -> str:
        self.execs.append((app, data))
        return "0"


class FakeHandoff:
    def __init__(self) -> None:
        self.delivered: dict[str, list[int]] = defaultdict(list)

    async def deliver(self, call: CallState, seg: Segment) -> str | None:
        self.delivered[call.call_id].append(seg.segment_no)
        return seg.recording_id


async def _settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


async def play_live(
    policy: Config, events: list[dict[str, Any]], tmp: Path
) -> tuple[AgiController, FakeHandoff, list[FakeChan]]:
    """Returns the controller, what it handed off, and every FastAGI session in order."""
    ami = FakeAmi(events)
    handoff = FakeHandoff()
    controller = AgiController(
        policy=lambda: policy,
        registry=CallRegistry(),
        handoff=cast(Handoff, handoff),
        store=StateStore(tmp / "state"),
        monitor=MonitorDir(tmp / "monitor", "/monitor"),
        ami=cast(Ami, ami),
        agent_dial=lambda agent: f"Local/{agent}@agents",
        close_timeout=0.01,
    )
    sessions: list[FakeChan] = []
    tasks: list[asyncio.Future[Any]] = []
    for record in events:
        kind = record.get("type") or record.get("Event")
        call = controller.calls.get(record.get("call_id", ""))
        if kind == "CallrecAgi":
            chan = FakeChan(record)
            sessions.append(chan)
            if chan.script == "answer":
                tasks.append(asyncio.ensure_future(controller.answer(chan)))
            else:
                tasks.append(asyncio.ensure_future(controller.dtmf(chan, chan.script)))
        elif kind == "CallrecAction" and call is not None:
            tasks.append(asyncio.ensure_future(_perform(controller, call, record["action"])))
        elif kind == "CallrecTransfer" and call is not None:
            tasks.append(
                asyncio.ensure_future(
                    controller.transfer(call, record["agent"], record["continue_recording"])
                )
            )
        elif kind == "CallrecConnected":
            ami.listed = set(record["channels"])
            tasks.extend(asyncio.ensure_future(h()) for h in ami.reconnect)
        elif "Event" in record:
            if record["Event"] == "Hangup":
                ami.gone.add(record["Uniqueid"])
            tasks.extend(asyncio.ensure_future(c) for c in ami.dispatch(record))
        await _settle()
    await asyncio.gather(*tasks)
    await controller.drain()
    await _settle()
    return controller, handoff, sessions


async def _perform(controller: AgiController, call: CallState, action: str) -> None:
    with contextlib.suppress(ActionRefused):
        await controller.perform(call, action)
