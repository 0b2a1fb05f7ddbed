"""Rule 4: which recording mode governs this segment.

Initial segments honour the agent's own override first; post-transfer
segments never do (the campaign's post-transfer setting is a promise made to
the transferring agent and the prospect, not something the new agent picks).
"""

from __future__ import annotations

from policy import reasons as r
from policy.config import AgentProfile, Config, Mode
from policy.facts import CallFacts


def note_unknown_names(config: Config, facts: CallFacts, out: list[str]) -> None:
    """Record names the config does not know, so a typo is visible in reasons."""
    if facts.campaign is not None and facts.campaign not in config.campaigns:
        out.append(r.CAMPAIGN_UNKNOWN)
    if facts.lead_list is not None and facts.lead_list not in config.list_owner:
        out.append(r.LEAD_LIST_UNOWNED)


def resolve_mode(config: Config, agent: AgentProfile, facts: CallFacts, out: list[str]) -> Mode:
    if facts.phase == "post_transfer":
        return _post_transfer_mode(config, facts, out)
    if agent.mode is not None:
        out.append(r.MODE_AGENT_OVERRIDE)
        return agent.mode
    if facts.lead_list is not None:
        owner = config.list_owner.get(facts.lead_list)
        if owner is not None:
            out.append(r.MODE_LEAD_LIST_CAMPAIGN)
            return config.campaigns[owner].mode
    if facts.campaign is not None:
        campaign = config.campaigns.get(facts.campaign)
        if campaign is not None:
            out.append(r.MODE_CAMPAIGN)
            return campaign.mode
    out.append(r.MODE_ORG_DEFAULT)
    return config.org.default_mode


def _post_transfer_mode(config: Config, facts: CallFacts, out: list[str]) -> Mode:
    name = config.call_campaign(facts.campaign, facts.lead_list)
    if name is None:
        out.append(r.MODE_POST_TRANSFER_ORG)
        return config.org.post_transfer
    setting = config.campaigns[name].post_transfer
    if setting == "follow_global":
        out.append(r.MODE_POST_TRANSFER_FOLLOW_GLOBAL)
        return config.org.post_transfer
    out.append(r.MODE_POST_TRANSFER_CAMPAIGN)
    return setting
