"""Play a recorded event stream through the call machine with fake ports.

The ARI half of the Stasis adapter (``ari_app.translate``) turns each
recorded event into machine events; the machine's effects are carried out
by fakes that only keep a log: the policy (pure, the same policy the
recording ran with) answers ``Decide``, a capture start is registered with
the translator so the recording ids that follow in the stream belong to it,
and a stop completes when the stream shows every leg finished. No Asterisk,
no network, no clock.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ari_app.translate import AriTranslator
from callcore.actions import DTMF_DEFAULTS
from callcore.events import (
    CaptureStopped,
    Decide,
    Decided,
    DeliverSegment,
    Effect,
    EndCall,
    Event,
    MuteCapture,
    PlayPrompt,
    PlayRefusal,
    StartCapture,
    StopCapture,
)
from callcore.machine import CallMachine
from policy import CallFacts, Config, decide


@dataclass
class Outcome:
    """What the machine did for each call of a stream."""

    transitions: dict[str, list[tuple[str, str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    effects: dict[str, list[Effect]] = field(default_factory=lambda: defaultdict(list))
    final: dict[str, str] = field(default_factory=dict)

    def of(self, call_id: str, kind: type) -> list[Any]:
        return [e for e in self.effects[call_id] if isinstance(e, kind)]


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def truth(events: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Per call, the recordings Asterisk really started (from its own events)."""
    snooped: dict[str, str] = {}  # recording id -> call id
    started: dict[str, set[str]] = defaultdict(set)
    for event in events:
        args = event.get("args") or []
        if event.get("type") == "StasisStart" and args[:1] == ["snoop"]:
            snooped[args[2]] = args[1]
        if event.get("type") == "RecordingStarted":
            rid = event["recording"]["name"].split("/")[-1].rsplit("-", 1)[0]
            if rid in snooped:
                started[snooped[rid]].add(rid)
    return started


class Replayer:
    def __init__(self, policy: Config) -> None:
        self.policy = policy
        self.translator = AriTranslator(DTMF_DEFAULTS)
        self.machines: dict[str, CallMachine] = {}
        self.facts: dict[str, dict[str, Any]] = {}
        self.outcome = Outcome()

    def play(self, events: list[dict[str, Any]]) -> Outcome:
        for event in events:
            if event.get("type") == "CallrecCall":
                self._new_call(event)
            for call_id, machine_event in self.translator.feed(event):
                self._run(call_id, machine_event)
        # End of the stream: a stop still waiting completes as the adapter's
        # stop does after its timeout (the files are what they are).
        for call_id, machine in self.machines.items():
            seg = getattr(machine.state, "segment_no", 0)
            if machine.state.name in ("stopping", "ending") and seg:
                self._run(call_id, CaptureStopped(seg))
        for call_id, machine in self.machines.items():
            self.outcome.final[call_id] = machine.state.name
        return self.outcome

    def _new_call(self, event: dict[str, Any]) -> None:
        call_id = event["call_id"]
        if call_id in self.machines:
            return
        self.facts[call_id] = event
        prompt = self.policy.announcement_for(
            event.get("campaign"), event.get("queue"), event.get("lead_list")
        )
        self.machines[call_id] = CallMachine.new(call_id, event["agent"], prompt or None)

    def _run(self, call_id: str, first: Event) -> None:
        machine = self.machines.get(call_id)
        if machine is None:
            return
        queue: list[Event] = [first]
        while queue:
            event = queue.pop(0)
            before = machine.state.label
            effects = machine.feed(event)
            self.outcome.transitions[call_id].append(
                (before, type(event).__name__, machine.state.label)
            )
            self.outcome.effects[call_id].extend(effects)
            for effect in effects:
                queue.extend(self._carry_out(call_id, effect))

    def _carry_out(self, call_id: str, effect: Effect) -> list[Event]:
        if isinstance(effect, Decide):
            facts = dict(self.facts[call_id])
            facts.update(agent=effect.agent, phase=effect.phase)
            return [Decided(decide(self.policy, _facts(call_id, facts, effect)))]
        if isinstance(effect, StartCapture):
            self.translator.expect_capture(call_id, effect.segment_no, effect.legs)
        elif isinstance(effect, StopCapture):
            if self.translator.capture_done(call_id, effect.segment_no):
                return [CaptureStopped(effect.segment_no)]
        elif isinstance(effect, EndCall):
            self.translator.forget(call_id)
        elif isinstance(effect, MuteCapture | PlayPrompt | PlayRefusal | DeliverSegment):
            pass  # kept in the outcome's effect log
        return []


def _facts(call_id: str, f: dict[str, Any], effect: Decide) -> CallFacts:
    return CallFacts.from_dict(
        {
            "call_id": call_id,
            "direction": f["direction"],
            "agent": effect.agent,
            "campaign": f.get("campaign"),
            "lead_list": f.get("lead_list"),
            "queue": f.get("queue"),
            "prospect": {"number": f.get("customer_number"), "state": f.get("prospect_state")},
            "phase": effect.phase,
            "continue_recording": effect.continue_recording,
        }
    )
