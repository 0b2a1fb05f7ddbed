"""Rule 3: which legs the law (as configured) lets us capture.

Reads like SPEC 2.4 rule 3: never_record_states first, then the first of the
three agent/prospect cases that applies, then (US domestic only) the
two-party skip, never_record_prospect_side and the consent mode.
"""

from __future__ import annotations

from typing import Literal

from policy import reasons as r
from policy.config import AgentProfile, Config
from policy.facts import CallFacts
from policy.numbers import ProspectLocation, locate
from policy.us_states import US_STATES

Legs = Literal["both", "agent", "none"]


def prospect_location(config: Config, facts: CallFacts) -> ProspectLocation:
    """Country from the number; state from the area code or the call's state field.

    With ``prospect_location_by = "state"`` a missing or invalid state field
    means unknown: there is no fallback to the area code, as SPEC requires.
    """
    found = locate(facts.prospect_number, config.org.default_region, config.area_codes)
    if config.consent.prospect_location_by == "state" and found.country == "US":
        state = facts.prospect_state
        return ProspectLocation("US", state if state in US_STATES else None)
    return found


def allowed_legs(
    config: Config, agent: AgentProfile, where: ProspectLocation, out: list[str]
) -> Legs:
    """Append the rule ids that fire to ``out`` and return the capturable legs."""
    consent = config.consent
    if where.state is not None and where.state in config.never_record_states:
        out.append(r.NEVER_RECORD_STATE)
        return "none"

    if agent.country != "US":
        if where.country is None:
            out.append(r.FOREIGN_AGENT_UNKNOWN_PROSPECT)
            return "none"
        if where.country != agent.country:
            out.append(r.FOREIGN_AGENT_OTHER_COUNTRY)
            return "none"
        out.append(r.FOREIGN_AGENT_SAME_COUNTRY)
        if consent.never_record_prospect_side:
            out.append(r.NEVER_RECORD_PROSPECT_SIDE)
            return "agent"
        return "both"

    if where.country is None:
        out.append(r.PROSPECT_UNKNOWN)
        return "agent"
    if where.country != "US":
        if (
            consent.international.restrict_to_countries
            and where.country not in config.allowed_countries
        ):
            out.append(r.INTERNATIONAL_RESTRICTED)
            return "none"
        out.append(r.INTERNATIONAL_AGENT_SIDE)
        return "agent"

    two_party = config.two_party_states
    if consent.skip_two_party_states and where.state in two_party:
        out.append(r.SKIP_TWO_PARTY_STATE)
        return "none"
    if consent.never_record_prospect_side:
        out.append(r.NEVER_RECORD_PROSPECT_SIDE)
        return "agent"

    blocked: list[str] = []
    if consent.mode != "prospect_location":
        # either_location and user_location coincide (SPEC 2.4): both ends count.
        if agent.state is None:
            blocked.append(r.CONSENT_AGENT_UNKNOWN)
        elif agent.state in two_party:
            blocked.append(r.CONSENT_AGENT_TWO_PARTY)
    if where.state is None:
        blocked.append(r.CONSENT_PROSPECT_UNKNOWN)
    elif where.state in two_party:
        blocked.append(r.CONSENT_PROSPECT_TWO_PARTY)
    if blocked:
        out.extend(blocked)
        return "agent"
    out.append(r.CONSENT_ONE_PARTY)
    return "both"
