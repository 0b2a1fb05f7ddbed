"""Stable rule ids carried in ``Decision.reasons`` and refusals.

Ids are a public contract: call paths return them in HTTP 409 bodies, admins
grep logs for them and docs/POLICY.md documents each one. Never rename an id;
add a new one instead. The descriptions here feed ``callrec explain``.
"""

from __future__ import annotations

from typing import Final

# Rule 1-2: system level.
ORG_DISABLED: Final = "org.disabled"
AGENT_NOT_PERMITTED: Final = "agent.not_permitted"
AGENT_UNLISTED: Final = "agent.unlisted"

# Rule 3: jurisdiction.
NEVER_RECORD_STATE: Final = "jurisdiction.never_record_state"
FOREIGN_AGENT_OTHER_COUNTRY: Final = "jurisdiction.agent_abroad_other_country"
FOREIGN_AGENT_SAME_COUNTRY: Final = "jurisdiction.agent_abroad_same_country"
FOREIGN_AGENT_UNKNOWN_PROSPECT: Final = "jurisdiction.agent_abroad_prospect_unknown"
PROSPECT_UNKNOWN: Final = "jurisdiction.prospect_unknown"
INTERNATIONAL_RESTRICTED: Final = "jurisdiction.international_restricted"
INTERNATIONAL_AGENT_SIDE: Final = "jurisdiction.international"
SKIP_TWO_PARTY_STATE: Final = "jurisdiction.skip_two_party_state"
NEVER_RECORD_PROSPECT_SIDE: Final = "jurisdiction.never_record_prospect_side"
CONSENT_PROSPECT_TWO_PARTY: Final = "consent.prospect_two_party"
CONSENT_PROSPECT_UNKNOWN: Final = "consent.prospect_state_unknown"
CONSENT_AGENT_TWO_PARTY: Final = "consent.agent_two_party"
CONSENT_AGENT_UNKNOWN: Final = "consent.agent_state_unknown"
CONSENT_ONE_PARTY: Final = "consent.one_party"

# Rule 4: mode resolution.
MODE_AGENT_OVERRIDE: Final = "mode.agent_override"
MODE_LEAD_LIST_CAMPAIGN: Final = "mode.lead_list_campaign"
MODE_CAMPAIGN: Final = "mode.campaign"
MODE_ORG_DEFAULT: Final = "mode.org_default"
MODE_POST_TRANSFER_CAMPAIGN: Final = "mode.post_transfer_campaign"
MODE_POST_TRANSFER_FOLLOW_GLOBAL: Final = "mode.post_transfer_follow_global"
MODE_POST_TRANSFER_ORG: Final = "mode.post_transfer_org"
CAMPAIGN_UNKNOWN: Final = "campaign.unknown"
LEAD_LIST_UNOWNED: Final = "lead_list.unowned"
QUEUE_UNKNOWN: Final = "queue.unknown"

# Rule 5-6: what the mode allows.
MODE_NEVER: Final = "mode.never"
MODE_ALL_FORCE: Final = "mode.all_force"
MODE_ALL_CALLS: Final = "mode.all_calls"
MODE_ON_DEMAND: Final = "mode.on_demand"
SAMPLE_AGENT: Final = "sample.agent"
SAMPLE_QUEUE: Final = "sample.queue"
TRANSFER_CONTINUE: Final = "transfer.continue_recording"
PAUSE_DISABLED: Final = "org.pause_disabled"

# Refusals from allowed_action().
ACTION_NOTHING_RECORDABLE: Final = "action.nothing_recordable"
ACTION_ALREADY_RECORDING: Final = "action.already_recording"
ACTION_NOT_RECORDING: Final = "action.not_recording"
ACTION_START_FORBIDDEN: Final = "action.start_forbidden"
ACTION_START_FORBIDDEN_ALL_FORCE: Final = "action.start_forbidden_all_force"
ACTION_STOP_FORBIDDEN: Final = "action.stop_forbidden"
ACTION_STOP_FORBIDDEN_ALL_FORCE: Final = "action.stop_forbidden_all_force"
ACTION_PAUSE_FORBIDDEN: Final = "action.pause_forbidden"
ACTION_ALREADY_PAUSED: Final = "action.already_paused"
ACTION_NOT_PAUSED: Final = "action.not_paused"

DESCRIPTIONS: Final[dict[str, str]] = {
    ORG_DISABLED: "[org] recording_enabled is false: nothing is recorded anywhere.",
    AGENT_NOT_PERMITTED: "The agent's permit_recordings is false: this agent is never recorded.",
    AGENT_UNLISTED: "The agent has no [agents.ID] table; [agent_defaults] apply "
    "(country US, state unknown).",
    NEVER_RECORD_STATE: "The prospect's state is in [consent] never_record_states.",
    FOREIGN_AGENT_OTHER_COUNTRY: "The agent is outside the US and the prospect is in "
    "another country.",
    FOREIGN_AGENT_SAME_COUNTRY: "The agent is outside the US and the prospect is in the "
    "same country: both sides (US state rules do not apply).",
    FOREIGN_AGENT_UNKNOWN_PROSPECT: "The agent is outside the US and the prospect's "
    "number cannot be placed in any country.",
    PROSPECT_UNKNOWN: "The prospect's number cannot be placed in any country "
    "(anonymous, withheld or not a number): US agent, agent side only.",
    INTERNATIONAL_RESTRICTED: "US agent, prospect outside the US, restrict_to_countries "
    "is on and the prospect's country is not in countries.",
    INTERNATIONAL_AGENT_SIDE: "US agent, prospect outside the US: agent side only.",
    SKIP_TWO_PARTY_STATE: "skip_two_party_states is on and the prospect is in a "
    "two-party-consent state.",
    NEVER_RECORD_PROSPECT_SIDE: "never_record_prospect_side is on: agent side only.",
    CONSENT_PROSPECT_TWO_PARTY: "Consent mode: the prospect is in a two-party-consent "
    "state, agent side only.",
    CONSENT_PROSPECT_UNKNOWN: "Consent mode: the prospect's state is unknown, agent side only.",
    CONSENT_AGENT_TWO_PARTY: "Consent mode: the agent is in a two-party-consent state, "
    "agent side only.",
    CONSENT_AGENT_UNKNOWN: "Consent mode: the agent's state is unknown, agent side only.",
    CONSENT_ONE_PARTY: "Consent mode: every location that counts is one-party: both sides.",
    MODE_AGENT_OVERRIDE: "The agent's own mode overrides the campaign's.",
    MODE_LEAD_LIST_CAMPAIGN: "The lead list belongs to a campaign: that campaign's mode applies.",
    MODE_CAMPAIGN: "The agent's logged-in campaign's mode applies.",
    MODE_ORG_DEFAULT: "No campaign: [org] default_mode applies.",
    MODE_POST_TRANSFER_CAMPAIGN: "After a transfer: the campaign's post_transfer applies.",
    MODE_POST_TRANSFER_FOLLOW_GLOBAL: "After a transfer: the campaign follows the global "
    "[org] post_transfer.",
    MODE_POST_TRANSFER_ORG: "After a transfer with no campaign: [org] post_transfer applies.",
    CAMPAIGN_UNKNOWN: "The call names a campaign that is not configured; treated as no campaign.",
    LEAD_LIST_UNOWNED: "The call's lead list is claimed by no campaign; ignored.",
    QUEUE_UNKNOWN: "The call names a queue that is not configured; no queue sampling or "
    "announcement.",
    MODE_NEVER: "Mode never: nothing is recorded.",
    MODE_ALL_FORCE: "Mode all_force: recording starts by itself and the agent can neither "
    "stop nor start it.",
    MODE_ALL_CALLS: "Mode all_calls: recording starts by itself; the agent may stop and "
    "start again.",
    MODE_ON_DEMAND: "Mode on_demand: the agent starts and stops recording.",
    SAMPLE_AGENT: "on_demand, and the call was sampled by the agent's record_percent: "
    "starts by itself.",
    SAMPLE_QUEUE: "on_demand, and the call was sampled by the queue's record_percent: "
    "starts by itself.",
    TRANSFER_CONTINUE: "on_demand after a transfer, and the transferring agent asked to "
    "continue recording: starts by itself.",
    PAUSE_DISABLED: "[org] allow_pause is false: the agent cannot pause.",
    ACTION_NOTHING_RECORDABLE: "Nothing may be recorded on this segment.",
    ACTION_ALREADY_RECORDING: "Start refused: already recording.",
    ACTION_NOT_RECORDING: "Refused: not recording.",
    ACTION_START_FORBIDDEN: "Start refused: the decision does not let the agent start.",
    ACTION_START_FORBIDDEN_ALL_FORCE: "Start refused: all_force recordings are not "
    "started by the agent.",
    ACTION_STOP_FORBIDDEN: "Stop refused: the decision does not let the agent stop.",
    ACTION_STOP_FORBIDDEN_ALL_FORCE: "Stop refused: all_force recordings cannot be stopped "
    "by the agent.",
    ACTION_PAUSE_FORBIDDEN: "Pause refused: pausing is not allowed.",
    ACTION_ALREADY_PAUSED: "Pause refused: already paused.",
    ACTION_NOT_PAUSED: "Resume refused: not paused.",
}
