"""Play a recorded dialplan-path stream (AMI events + FastAGI requests) through the
dialplan translator (``agi_scripts.translate``) and the call machine with fake ports.

The fakes only keep a log: the policy (pure, the policy the recording ran
with) answers ``Decide``; a capture start is registered with the translator,
so the MixMonitorStart that follows in the stream completes it; a stop
completes when the stream shows MixMonitor ended (stopped, or its channel
left). No Asterisk, no network, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from agi_scripts.facts import FactsError, parse_facts
from agi_scripts.translate import AmiTranslator
from callcore.events import (
    CaptureStopped,
    Decide,
    Decided,
    EndCall,
    Event,
    StartCapture,
    StopCapture,
)
from callcore.machine import CallMachine
from policy import CallFacts, Config, decide
from tests.replay.replayer import Outcome


def truth(events: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per call, from Asterisk's own events: MixMonitors started, and parties gone.

    A MixMonitorStart names its channel; the answer request on that channel
    names the call (the channel's CALLREC_CALL_ID, read by Asterisk).
    """
    call_of: dict[str, str] = {}
    seen: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for event in events:
        if event.get("type") == "CallrecAgi" and event.get("script") == "answer":
            try:
                cid = parse_facts(event["facts"]).call_id
            except FactsError:
                continue
            if cid:
                call_of[event["uniqueid"]] = cid
                customer = parse_facts(event["facts"]).customer_uniqueid
                if customer:
                    call_of[customer] = cid
        name = event.get("Event")
        cid = call_of.get(event.get("Uniqueid", ""), "")
        if cid and name in ("MixMonitorStart", "MixMonitorMute", "Hangup"):
            key = name if name != "MixMonitorMute" else f"Mute{event.get('State')}"
            seen[cid][key] += 1
    return seen


class AmiReplayer:
    def __init__(self, policy: Config) -> None:
        self.policy = policy
        self.translator = AmiTranslator()
        self.machines: dict[str, CallMachine] = {}
        self.outcome = Outcome()

    def play(self, events: list[dict[str, Any]]) -> Outcome:
        for record in events:
            for call_id, machine_event in self.translator.feed(record):
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

    def _machine(self, call_id: str) -> CallMachine | None:
        if call_id not in self.machines:
            facts = self.translator.facts(call_id)
            if facts is None:
                return None
            prompt = self.policy.announcement_for(facts.campaign, facts.queue, facts.lead_list)
            self.machines[call_id] = CallMachine.new(call_id, facts.agent, prompt or None)
        return self.machines[call_id]

    def _run(self, call_id: str, first: Event) -> None:
        machine = self._machine(call_id)
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
                if isinstance(effect, Decide):
                    queue.append(Decided(decide(self.policy, self._facts(call_id, effect))))
                elif isinstance(effect, StartCapture):
                    self.translator.expect_capture(call_id, effect.segment_no)
                elif isinstance(effect, StopCapture):
                    if self.translator.capture_done(call_id, effect.segment_no):
                        queue.append(CaptureStopped(effect.segment_no))
                elif isinstance(effect, EndCall):
                    self.translator.forget(call_id)

    def _facts(self, call_id: str, effect: Decide) -> CallFacts:
        f = self.translator.facts(call_id)
        assert f is not None
        return CallFacts.from_dict(
            {
                "call_id": call_id,
                "direction": f.direction,
                "agent": effect.agent,
                "campaign": f.campaign,
                "lead_list": f.lead_list,
                "queue": f.queue,
                "prospect": {"number": f.number, "state": f.prospect_state},
                "phase": effect.phase,
                "continue_recording": effect.continue_recording,
            }
        )
