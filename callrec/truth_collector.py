"""Keeps Asterisk's own record of every call (CEL over AMI) in ``call_spans``.

Runs inside ``callrec serve`` on its own AMI connection. Each linkedid's CEL
events are folded by :class:`callcore.ground_truth.GroundTruth`; when Asterisk
logs LINKEDID_END the span is written (after a short delay, for the Hangup
events that trail it). A call is tied to callrec's call id by the
``CALLREC_CALL_ID`` channel variable (the dialplan path sets it) or, while
the call is live, by the registry knowing its channel or bridge (the Stasis
path); the decision, agent and campaign are kept with the span so a call with
no recording can be told apart from one the policy said not to record.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from callcore.ami import Ami, AmiAddress
from callcore.ground_truth import GroundTruth, Span, bridge_id_of, is_party
from callcore.registry import CallRegistry
from callcore.state import CallState
from storage.db import Database
from storage.verification import SpanRecord, save_span

log = logging.getLogger("callrec.truth")


class TruthCollector:
    def __init__(
        self,
        address: AmiAddress,
        db: Database,
        registry: CallRegistry | None = None,
        *,
        node: str | None = None,
        flush_delay: float = 1.0,
    ) -> None:
        self.ami = Ami(address)
        self.db = db
        self.registry = registry
        self.node = node or socket.gethostname()
        self.flush_delay = flush_delay
        self.truth = GroundTruth()
        self._calls: dict[str, dict[str, Any]] = {}  # linkedid -> what callrec knew
        self._tasks: set[asyncio.Task[None]] = set()
        self.saved = 0

    async def start(self) -> None:
        self.ami.on("CEL", self.on_event)
        self.ami.on("Hangup", self.on_event)
        await self.ami.connect()

    async def stop(self, timeout: float = 5.0) -> None:
        await self.ami.close()
        if self._tasks:  # spans still waiting for the database get a last chance
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
            for task in pending:
                task.cancel()

    def on_event(self, event: Mapping[str, str]) -> None:
        try:
            if event.get("Event") == "CEL":
                self._learn(event)
            span = self.truth.feed(event)
        except Exception:  # a malformed event must not stop the collector
            log.exception("ground truth: event not understood: %s", event.get("EventName"))
            return
        while self.truth.opened:  # the bridged start, kept at once (survives our restart)
            self._spawn(self._save_open(self.truth.opened.pop()))
        if span is not None:
            self._spawn(self._flush_later(span.linkedid))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _save_open(self, linkedid: str) -> None:
        span = self.truth.spans.get(linkedid)
        if span is None:
            return
        record = to_record(span, self.node, self._calls.get(linkedid, {}))
        try:
            await asyncio.to_thread(save_span, self.db, record)
        except Exception as exc:  # the finished span is written (with retries) later anyway
            log.warning("ground truth: open span %s not saved (%s)", linkedid, exc)

    def _learn(self, event: Mapping[str, str]) -> None:
        """While the call is live, ask the registry whose it is (Stasis calls)."""
        linkedid = event.get("LinkedID", "")
        if not linkedid or linkedid in self._calls or self.registry is None:
            return
        if not is_party(event.get("Channel", "")):
            return
        uniqueid = event.get("UniqueID", "")
        bridge = bridge_id_of(event.get("Extra", "")) or ""
        for call in self.registry.all():
            if uniqueid in call.channels.values() or (bridge and bridge == call.bridge_id):
                self._calls[linkedid] = _known(call)
                return

    async def _flush_later(self, linkedid: str) -> None:
        """Write a finished span; while the database is away, keep it and try again."""
        await asyncio.sleep(self.flush_delay)
        span = self.truth.spans.get(linkedid)
        if span is None:
            return
        record = to_record(span, self.node, self._calls.get(linkedid, {}))
        delay = 1.0
        while True:
            try:
                await asyncio.to_thread(save_span, self.db, record)
                break
            except Exception as exc:  # e.g. PostgreSQL restarting: the span must not be lost
                log.warning("ground truth: span %s not saved (%s); retrying", linkedid, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        self.saved += 1
        self._calls.pop(linkedid, None)
        self.truth.forget(linkedid)


def _known(call: CallState) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "agent": call.agent,
        "campaign": call.campaign,
        "decision": call.decision.to_dict() if call.decision else {},
    }


def _dt(value: float | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, tz=UTC).replace(tzinfo=None)


def to_record(span: Span, node: str, known: Mapping[str, Any]) -> SpanRecord:
    details = span.details()
    for key in ("agent", "campaign", "decision"):
        if known.get(key) is not None:
            details[key] = known[key]
    return SpanRecord(
        linkedid=span.linkedid,
        node=node,
        call_id=span.call_id or known.get("call_id"),
        answered_at=_dt(span.answered_at),
        bridged_at=_dt(span.bridged_at),
        unbridged_at=_dt(span.unbridged_at),
        ended_at=_dt(span.ended_at),
        details=details,
    )
