"""The decision: config + call facts -> what may be recorded, and why.

Pure: no files, no clock, no network, no asyncio. The same inputs give the
same ``Decision`` on every host, which is what lets call paths store the
decision per segment and re-check agent actions against it later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from policy import reasons as r
from policy.config import Config, Mode
from policy.facts import CallFacts
from policy.jurisdiction import Legs, allowed_legs, prospect_location
from policy.mode import note_unknown_names, resolve_mode
from policy.sampling import sampled

Action = Literal["start", "stop", "pause", "resume"]
ACTIONS: tuple[Action, ...] = ("start", "stop", "pause", "resume")


@dataclass(frozen=True, slots=True)
class Decision:
    """What one segment may record. Immutable: a reload never changes it."""

    legs: Legs
    autostart: bool
    agent_can_start: bool
    agent_can_stop: bool
    agent_can_pause: bool
    mode: Mode | None
    announce: str | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "legs": self.legs,
            "autostart": self.autostart,
            "agent_can_start": self.agent_can_start,
            "agent_can_stop": self.agent_can_stop,
            "agent_can_pause": self.agent_can_pause,
            "mode": self.mode,
            "announce": self.announce,
            "reasons": list(self.reasons),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        """Rebuild a stored decision (the state a call path persisted per segment)."""
        return cls(
            legs=data["legs"],
            autostart=bool(data["autostart"]),
            agent_can_start=bool(data["agent_can_start"]),
            agent_can_stop=bool(data["agent_can_stop"]),
            agent_can_pause=bool(data["agent_can_pause"]),
            mode=data.get("mode"),
            announce=data.get("announce"),
            reasons=tuple(data.get("reasons", ())),
        )

    @property
    def records_anything(self) -> bool:
        return self.legs != "none"


def _nothing(mode: Mode | None, out: list[str]) -> Decision:
    return Decision("none", False, False, False, False, mode, None, tuple(out))


def decide(config: Config, facts: CallFacts) -> Decision:
    """Apply SPEC 2.4 rules 1-6 in order; ``reasons`` lists the rule ids that fired."""
    out: list[str] = []
    if not config.org.recording_enabled:
        out.append(r.ORG_DISABLED)
        return _nothing(None, out)

    agent = config.agent(facts.agent)
    if not agent.listed:
        out.append(r.AGENT_UNLISTED)
    if not agent.permit_recordings:
        out.append(r.AGENT_NOT_PERMITTED)
        return _nothing(None, out)

    legs = allowed_legs(config, agent, prospect_location(config, facts), out)

    note_unknown_names(config, facts, out)
    queue = None
    if facts.queue is not None:
        queue = config.queues.get(facts.queue)
        if queue is None:
            out.append(r.QUEUE_UNKNOWN)
    mode = resolve_mode(config, agent, facts, out)
    if legs == "none":
        return _nothing(mode, out)

    if mode == "never":
        out.append(r.MODE_NEVER)
        return _nothing(mode, out)
    if mode == "all_force":
        out.append(r.MODE_ALL_FORCE)
        autostart, can_start, can_stop = True, False, False
    elif mode == "all_calls":
        out.append(r.MODE_ALL_CALLS)
        autostart, can_start, can_stop = True, True, True
    else:
        out.append(r.MODE_ON_DEMAND)
        autostart, can_start, can_stop = False, True, True
        # Independent draws: either one starts the recording.
        if sampled(facts.call_id, f"agent:{agent.id}", agent.record_percent):
            out.append(r.SAMPLE_AGENT)
            autostart = True
        if queue is not None and sampled(
            facts.call_id, f"queue:{facts.queue}", queue.record_percent
        ):
            out.append(r.SAMPLE_QUEUE)
            autostart = True
        if facts.phase == "post_transfer" and facts.continue_recording:
            out.append(r.TRANSFER_CONTINUE)
            autostart = True

    can_pause = config.org.allow_pause
    if not can_pause:
        out.append(r.PAUSE_DISABLED)
    return Decision(
        legs=legs,
        autostart=autostart,
        agent_can_start=can_start,
        agent_can_stop=can_stop,
        agent_can_pause=can_pause,
        mode=mode,
        announce=_announce(config, facts, queue),
        reasons=tuple(out),
    )


def _announce(config: Config, facts: CallFacts, queue: Any) -> str | None:
    # The prospect hears the prompt once per call, before any agent is
    # connected (SPEC 3); a post-transfer segment has nothing left to play.
    if facts.phase == "post_transfer":
        return None
    if queue is not None and queue.announcement:
        return str(queue.announcement)
    name = config.call_campaign(facts.campaign, facts.lead_list)
    if name is None:
        return None
    return config.campaigns[name].announcement or None


def allowed_action(
    decision: Decision, action: str, recording_active: bool, paused: bool = False
) -> tuple[bool, str | None]:
    """May the agent do ``action`` now? Returns (ok, refusing rule id).

    Call paths answer a refusal with the id (HTTP 409 body, a tone on DTMF);
    an action is never silently ignored.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; allowed: {', '.join(ACTIONS)}")
    if decision.legs == "none":
        return False, r.ACTION_NOTHING_RECORDABLE
    force = decision.mode == "all_force"
    if action == "start":
        if recording_active:
            return False, r.ACTION_ALREADY_RECORDING
        if not decision.agent_can_start:
            return False, r.ACTION_START_FORBIDDEN_ALL_FORCE if force else r.ACTION_START_FORBIDDEN
        return True, None
    if action == "stop":
        if not decision.agent_can_stop:
            return False, r.ACTION_STOP_FORBIDDEN_ALL_FORCE if force else r.ACTION_STOP_FORBIDDEN
        if not recording_active:
            return False, r.ACTION_NOT_RECORDING
        return True, None
    if action == "pause":
        if not decision.agent_can_pause:
            return False, r.ACTION_PAUSE_FORBIDDEN
        if not recording_active:
            return False, r.ACTION_NOT_RECORDING
        if paused:
            return False, r.ACTION_ALREADY_PAUSED
        return True, None
    # resume
    if not recording_active:
        return False, r.ACTION_NOT_RECORDING
    if not paused:
        return False, r.ACTION_NOT_PAUSED
    return True, None
