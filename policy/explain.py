"""A decision in plain words for an admin: which rule decided, what would change it."""

from __future__ import annotations

from policy import reasons as r
from policy.config import Config
from policy.engine import Decision
from policy.facts import CallFacts
from policy.jurisdiction import prospect_location

# What an admin could change to get a different outcome, per deciding rule.
_LEVERS: dict[str, str] = {
    r.ORG_DISABLED: "set [org] recording_enabled = true",
    r.AGENT_NOT_PERMITTED: "set permit_recordings = true for this agent (or in [agent_defaults])",
    r.NEVER_RECORD_STATE: "remove the state from [consent] never_record_states",
    r.FOREIGN_AGENT_OTHER_COUNTRY: "nothing in config: calls across borders from an agent "
    "outside the US are never recorded",
    r.FOREIGN_AGENT_UNKNOWN_PROSPECT: "nothing in config: the prospect's number must be known",
    r.PROSPECT_UNKNOWN: "nothing in config: the prospect's number must be known",
    r.INTERNATIONAL_RESTRICTED: "add the country to [consent.international] countries, or set "
    "restrict_to_countries = false",
    r.INTERNATIONAL_AGENT_SIDE: "nothing in config: calls abroad keep the agent side only",
    r.SKIP_TWO_PARTY_STATE: "set [consent] skip_two_party_states = false, or remove the state "
    "from two_party_states",
    r.NEVER_RECORD_PROSPECT_SIDE: "set [consent] never_record_prospect_side = false",
    r.CONSENT_PROSPECT_TWO_PARTY: "remove the prospect's state from two_party_states (only if "
    "your counsel agrees)",
    r.CONSENT_PROSPECT_UNKNOWN: "use a number whose area code is known, or prospect_location_by "
    '= "state" with the call\'s state field',
    r.CONSENT_AGENT_TWO_PARTY: 'set [consent] mode = "prospect_location" (agent state then '
    "does not count)",
    r.CONSENT_AGENT_UNKNOWN: "set state for this agent in [agents.ID], or [consent] mode = "
    '"prospect_location"',
    r.MODE_NEVER: "change the mode of the campaign (or the agent's mode override)",
    r.MODE_ON_DEMAND: "use all_calls or all_force to start recording automatically, or raise "
    "record_percent",
    r.MODE_ALL_FORCE: "change the governing campaign's mode (see 'Mode from' above) or give "
    "the agent a mode override",
    r.MODE_ALL_CALLS: "change the governing campaign's mode (see 'Mode from' above) or the "
    "agent's mode override",
    r.SAMPLE_AGENT: "lower the agent's record_percent",
    r.SAMPLE_QUEUE: "lower the queue's record_percent",
    r.TRANSFER_CONTINUE: "the transferring agent leaves 'continue recording' unchecked",
    r.CONSENT_ONE_PARTY: "add a state to two_party_states or set never_record_prospect_side",
    r.FOREIGN_AGENT_SAME_COUNTRY: "set never_record_prospect_side = true to keep the agent "
    "side only",
    r.PAUSE_DISABLED: "set [org] allow_pause = true",
}

_MODE_SOURCES = {
    r.MODE_AGENT_OVERRIDE,
    r.MODE_LEAD_LIST_CAMPAIGN,
    r.MODE_CAMPAIGN,
    r.MODE_ORG_DEFAULT,
    r.MODE_POST_TRANSFER_CAMPAIGN,
    r.MODE_POST_TRANSFER_FOLLOW_GLOBAL,
    r.MODE_POST_TRANSFER_ORG,
}


def deciding_rule(decision: Decision) -> str:
    """The rule that settled the outcome: the one that stopped the legs, else the mode."""
    if decision.legs == "none":
        for reason in decision.reasons:
            if reason in (r.ORG_DISABLED, r.AGENT_NOT_PERMITTED, r.MODE_NEVER):
                return reason
            if reason.startswith("jurisdiction.") and reason != r.FOREIGN_AGENT_SAME_COUNTRY:
                return reason
    if decision.legs == "agent":
        for reason in decision.reasons:
            if reason.startswith(("jurisdiction.", "consent.")) and reason in _LEVERS:
                return reason
    return decision.reasons[-1] if decision.reasons else ""


def _mode_source(config: Config, facts: CallFacts, decision: Decision) -> str | None:
    reasons = set(decision.reasons)
    campaign = config.call_campaign(facts.campaign, facts.lead_list)
    if r.MODE_AGENT_OVERRIDE in reasons:
        return f"agent {facts.agent}'s own mode override"
    if r.MODE_LEAD_LIST_CAMPAIGN in reasons:
        return f"campaign {campaign}, which owns lead list {facts.lead_list}"
    if r.MODE_CAMPAIGN in reasons:
        return f"campaign {campaign}"
    if r.MODE_ORG_DEFAULT in reasons:
        return "[org] default_mode (no campaign)"
    if r.MODE_POST_TRANSFER_CAMPAIGN in reasons:
        return f"post_transfer of campaign {campaign}"
    if r.MODE_POST_TRANSFER_FOLLOW_GLOBAL in reasons:
        return f"[org] post_transfer (campaign {campaign} follows the global setting)"
    if r.MODE_POST_TRANSFER_ORG in reasons:
        return "[org] post_transfer (no campaign)"
    return None


def explain(config: Config, facts: CallFacts, decision: Decision) -> str:
    where = prospect_location(config, facts)
    agent = config.agent(facts.agent)
    lines: list[str] = []
    legs_text = {
        "both": "both sides (agent and prospect)",
        "agent": "the agent's side only",
        "none": "nothing",
    }[decision.legs]
    lines.append(f"Call {facts.call_id} ({facts.phase.replace('_', '-')}): records {legs_text}.")
    place = "unknown" if where.country is None else where.country
    if where.state:
        place += f", {where.state}"
    agent_place = agent.country + (f", {agent.state}" if agent.state else ", state unknown")
    if agent.country != "US":
        agent_place = agent.country
    lines.append(f"Prospect {facts.prospect_number or '(no number)'}: {place}.")
    lines.append(
        f"Agent {facts.agent}: {agent_place}" + ("" if agent.listed else " (not listed)") + "."
    )
    if decision.mode is not None:
        start = (
            "starts automatically" if decision.autostart else "starts only when the agent starts it"
        )
        if decision.legs != "none":
            stop = (
                "the agent can stop it" if decision.agent_can_stop else "the agent cannot stop it"
            )
            pause = "can pause" if decision.agent_can_pause else "cannot pause"
            lines.append(f"Mode {decision.mode}: recording {start}; {stop}; {pause}.")
        else:
            lines.append(f"Mode {decision.mode}.")
    source = _mode_source(config, facts, decision)
    if source:
        lines.append(f"Mode from: {source}.")
    if decision.announce:
        lines.append(f"Announcement played first: {decision.announce}.")
    rule = deciding_rule(decision)
    lines.append(f"Decided by: {rule} - {r.DESCRIPTIONS.get(rule, '')}")
    lever = _LEVERS.get(rule)
    if lever:
        lines.append(f"To change it: {lever}.")
    lines.append("Rules that fired, in order:")
    for reason in decision.reasons:
        lines.append(f"  {reason}: {r.DESCRIPTIONS.get(reason, '')}")
    return "\n".join(lines)
