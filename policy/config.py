"""The config model: what an admin may write in callrec.toml, and its resolved form.

The pydantic models mirror the TOML one section per class, with unknown keys
forbidden and strict types, so a typo is an error and not a silently ignored
setting. ``Config`` is the resolved, immutable view the engine reads: agents
merged with [agent_defaults], lead lists indexed by owner, state sets frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import phonenumbers
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from policy.us_states import US_STATES

Mode = Literal["never", "on_demand", "all_calls", "all_force"]
PostTransferMode = Literal["never", "on_demand", "all_force"]
CampaignPostTransfer = Literal["follow_global", "never", "on_demand", "all_force"]
ConsentMode = Literal["either_location", "prospect_location", "user_location"]
LocationBy = Literal["area_code", "state"]

# Region codes the phone-number library can assign to a number: ISO 3166-1
# alpha-2 plus AC, TA and XK. A country no number can belong to is useless here.
COUNTRIES: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS)

# Shipped default; admin-editable. This is not legal advice.
DEFAULT_TWO_PARTY_STATES: tuple[str, ...] = (
    "CA", "CT", "DE", "FL", "IL", "MD", "MA", "MI", "MT", "NV", "NH", "PA", "WA",
)  # fmt: skip


def _state(value: object) -> object:
    if isinstance(value, str):
        code = value.strip().upper()
        if code not in US_STATES:
            raise ValueError(
                f"unknown US state code {value!r}; allowed: two-letter USPS codes of the "
                "50 states and DC (e.g. CA, NY, DC)"
            )
        return code
    return value


def _country(value: object) -> object:
    if isinstance(value, str):
        code = value.strip().upper()
        if code not in COUNTRIES:
            raise ValueError(
                f"unknown country code {value!r}; allowed: ISO 3166-1 alpha-2 codes "
                "(e.g. US, CA, GB, PR)"
            )
        return code
    return value


def _id(value: object) -> object:
    # Lead-list ids are often numeric in dialers; accept 101 and "101" alike.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


State = Annotated[str, BeforeValidator(_state)]
Country = Annotated[str, BeforeValidator(_country)]
ListId = Annotated[str, BeforeValidator(_id)]
Percent = Annotated[float, Field(ge=0, le=100)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class OrgSection(_Section):
    recording_enabled: bool = True
    default_region: Country = "US"
    default_mode: Mode = "on_demand"
    post_transfer: PostTransferMode = "on_demand"
    allow_pause: bool = True


class InternationalSection(_Section):
    restrict_to_countries: bool = False
    countries: list[Country] = Field(default_factory=list)


class ConsentSection(_Section):
    mode: ConsentMode = "either_location"
    prospect_location_by: LocationBy = "area_code"
    two_party_states: list[State] = Field(default_factory=lambda: list(DEFAULT_TWO_PARTY_STATES))
    never_record_prospect_side: bool = False
    skip_two_party_states: bool = False
    never_record_states: list[State] = Field(default_factory=list)
    area_code_file: str | None = None
    international: InternationalSection = Field(default_factory=InternationalSection)


class CampaignSection(_Section):
    mode: Mode
    post_transfer: CampaignPostTransfer = "follow_global"
    lists: list[ListId] = Field(default_factory=list)
    announcement: str | None = None


class AgentDefaultsSection(_Section):
    permit_recordings: bool = True
    record_percent: Percent = 0


class AgentSection(_Section):
    permit_recordings: bool | None = None
    record_percent: Percent | None = None
    mode: Mode | None = None
    state: State | None = None
    country: Country = "US"


class QueueSection(_Section):
    record_percent: Percent = 0
    announcement: str | None = None


class ConfigFile(_Section):
    """The merged TOML document (after includes)."""

    org: OrgSection = Field(default_factory=OrgSection)
    consent: ConsentSection = Field(default_factory=ConsentSection)
    campaigns: dict[str, CampaignSection] = Field(default_factory=dict)
    agent_defaults: AgentDefaultsSection = Field(default_factory=AgentDefaultsSection)
    agents: dict[str, AgentSection] = Field(default_factory=dict)
    queues: dict[str, QueueSection] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """An agent with [agent_defaults] already applied."""

    id: str
    permit_recordings: bool
    record_percent: float
    mode: Mode | None
    state: str | None
    country: str
    listed: bool


@dataclass(frozen=True, eq=False)
class Config:
    """A validated, immutable policy config; share it freely between tasks."""

    model: ConfigFile
    area_codes: Mapping[int, str]
    files: tuple[Path, ...] = ()
    warnings: list[str] = field(default_factory=list)
    agents: Mapping[str, AgentProfile] = field(init=False)
    default_agent: AgentProfile = field(init=False)
    list_owner: Mapping[str, str] = field(init=False)
    two_party_states: frozenset[str] = field(init=False)
    never_record_states: frozenset[str] = field(init=False)
    allowed_countries: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        m = self.model
        d = m.agent_defaults
        agents = {
            agent_id: AgentProfile(
                id=agent_id,
                permit_recordings=(
                    d.permit_recordings if a.permit_recordings is None else a.permit_recordings
                ),
                record_percent=d.record_percent if a.record_percent is None else a.record_percent,
                mode=a.mode,
                state=a.state,
                country=a.country,
                listed=True,
            )
            for agent_id, a in m.agents.items()
        }
        owner: dict[str, str] = {}
        for name, campaign in m.campaigns.items():
            for list_id in campaign.lists:
                owner.setdefault(list_id, name)
        setter = object.__setattr__
        setter(self, "agents", agents)
        setter(
            self,
            "default_agent",
            AgentProfile("", d.permit_recordings, d.record_percent, None, None, "US", False),
        )
        setter(self, "list_owner", owner)
        setter(self, "two_party_states", frozenset(m.consent.two_party_states))
        setter(self, "never_record_states", frozenset(m.consent.never_record_states))
        setter(self, "allowed_countries", frozenset(m.consent.international.countries))

    @property
    def org(self) -> OrgSection:
        return self.model.org

    @property
    def consent(self) -> ConsentSection:
        return self.model.consent

    @property
    def campaigns(self) -> Mapping[str, CampaignSection]:
        return self.model.campaigns

    @property
    def queues(self) -> Mapping[str, QueueSection]:
        return self.model.queues

    def agent(self, agent_id: str) -> AgentProfile:
        profile = self.agents.get(agent_id)
        if profile is None:
            return AgentProfile(
                agent_id,
                self.default_agent.permit_recordings,
                self.default_agent.record_percent,
                None,
                None,
                "US",
                False,
            )
        return profile

    def call_campaign(self, campaign: str | None, lead_list: str | None) -> str | None:
        """The campaign that governs a call: the lead list's owner, else the agent's.

        Dialing a lead from another campaign's list applies *that* campaign.
        Unknown names count as no campaign.
        """
        if lead_list is not None:
            owner = self.list_owner.get(lead_list)
            if owner is not None:
                return owner
        if campaign is not None and campaign in self.model.campaigns:
            return campaign
        return None

    def post_transfer_mode_for(
        self, campaign: str | None, lead_list: str | None = None
    ) -> PostTransferMode:
        """What happens after a transfer; drives the console's transfer checkbox.

        never: unchecked and disabled; on_demand: enabled; all_force: checked
        and disabled.
        """
        name = self.call_campaign(campaign, lead_list)
        if name is None:
            return self.model.org.post_transfer
        setting = self.model.campaigns[name].post_transfer
        return self.model.org.post_transfer if setting == "follow_global" else setting

    def announcement_for(
        self, campaign: str | None, queue: str | None, lead_list: str | None = None
    ) -> str | None:
        """The prompt to play before an agent is connected (SPEC 3).

        Usable before the agent is known: for inbound queue calls the prompt is
        played whenever one is configured and the org records at all, because
        announcing a call that then is not recorded is harmless and the reverse
        is not.
        """
        if not self.model.org.recording_enabled:
            return None
        if queue is not None:
            q = self.model.queues.get(queue)
            if q is not None and q.announcement:
                return q.announcement
        name = self.call_campaign(campaign, lead_list)
        if name is not None:
            return self.model.campaigns[name].announcement or None
        return None


def announcement_for(
    config: Config, campaign: str | None, queue: str | None, lead_list: str | None = None
) -> str | None:
    """Function form of ``Config.announcement_for`` for the call paths."""
    return config.announcement_for(campaign, queue, lead_list)
