"""SPEC 2.4 rules 1-3 and 5: one table row per situation."""

from __future__ import annotations

from typing import Any

import pytest

from policy import decide
from policy import reasons as r

from .helpers import CA, CANADA, MT, NEW_OVERLAY, NY, PUERTO_RICO, TOLL_FREE, TX, UK, config, run

ALL_CALLS: dict[str, Any] = {"default_mode": "all_calls"}


def test_org_disabled_records_nothing() -> None:
    d = run(config(org={"recording_enabled": False, "default_mode": "all_force"}))
    assert d.legs == "none"
    assert d.reasons == (r.ORG_DISABLED,)
    assert d.mode is None and d.announce is None
    assert not (d.autostart or d.agent_can_start or d.agent_can_stop or d.agent_can_pause)


@pytest.mark.parametrize(
    "sections",
    [
        {"agents": {"ny": {"state": "NY", "permit_recordings": False, "mode": "all_force"}}},
        {"agent_defaults": {"permit_recordings": False}, "agents": {"ny": {"state": "NY"}}},
    ],
    ids=["agent", "defaults"],
)
def test_permit_false_beats_campaign_queue_and_percent(sections: dict[str, Any]) -> None:
    sections = {
        **sections,
        "campaigns": {"c": {"mode": "all_force"}},
        "queues": {"q": {"record_percent": 100, "announcement": "hello"}},
    }
    sections["agent_defaults"] = {**sections.get("agent_defaults", {}), "record_percent": 100}
    d = run(config(**sections), campaign="c", queue="q")
    assert d.legs == "none" and d.mode is None and d.announce is None
    assert d.reasons[-1] == r.AGENT_NOT_PERMITTED
    assert not (d.autostart or d.agent_can_start or d.agent_can_stop or d.agent_can_pause)


def test_listed_agent_inherits_permit_from_defaults() -> None:
    cfg = config(agent_defaults={"permit_recordings": False}, agents={"ny": {"state": "NY"}})
    assert run(cfg).legs == "none"
    cfg = config(
        agent_defaults={"permit_recordings": False},
        agents={"ny": {"state": "NY", "permit_recordings": True}},
    )
    assert run(cfg).legs == "both"


# (consent section, agent, number, prospect.state, expected legs, reason that decides)
JURISDICTION: list[tuple[dict[str, Any], str, str | None, str | None, str, str]] = [
    # never_record_states comes first, even before the international cases
    ({"never_record_states": ["TX"]}, "ny", TX, None, "none", r.NEVER_RECORD_STATE),
    ({"never_record_states": ["TX"]}, "gb", TX, None, "none", r.NEVER_RECORD_STATE),
    ({"never_record_states": ["TX"]}, "ny", NY, None, "both", r.CONSENT_ONE_PARTY),
    # agent outside the US
    ({}, "gb", UK, None, "both", r.FOREIGN_AGENT_SAME_COUNTRY),
    ({}, "gb", NY, None, "none", r.FOREIGN_AGENT_OTHER_COUNTRY),
    ({}, "gb", CANADA, None, "none", r.FOREIGN_AGENT_OTHER_COUNTRY),
    ({}, "canada", CANADA, None, "both", r.FOREIGN_AGENT_SAME_COUNTRY),
    ({}, "canada", NY, None, "none", r.FOREIGN_AGENT_OTHER_COUNTRY),
    ({"never_record_prospect_side": True}, "gb", UK, None, "agent", r.NEVER_RECORD_PROSPECT_SIDE),
    # US state rules do not apply abroad: two-party and skip settings are moot
    ({"skip_two_party_states": True, "mode": "prospect_location"}, "gb", UK, None, "both",
     r.FOREIGN_AGENT_SAME_COUNTRY),
    # US agent, prospect abroad
    ({}, "ny", UK, None, "agent", r.INTERNATIONAL_AGENT_SIDE),
    ({}, "ny", CANADA, None, "agent", r.INTERNATIONAL_AGENT_SIDE),
    ({}, "ny", PUERTO_RICO, None, "agent", r.INTERNATIONAL_AGENT_SIDE),
    ({"international": {"restrict_to_countries": True, "countries": ["CA"]}},
     "ny", UK, None, "none", r.INTERNATIONAL_RESTRICTED),
    ({"international": {"restrict_to_countries": True, "countries": ["CA"]}},
     "ny", CANADA, None, "agent", r.INTERNATIONAL_AGENT_SIDE),
    ({"international": {"restrict_to_countries": True, "countries": ["GB"]}},
     "ny", PUERTO_RICO, None, "none", r.INTERNATIONAL_RESTRICTED),
    ({"international": {"restrict_to_countries": False, "countries": ["CA"]}},
     "ny", UK, None, "agent", r.INTERNATIONAL_AGENT_SIDE),
    # US domestic: skip_two_party_states
    ({"skip_two_party_states": True}, "ny", CA, None, "none", r.SKIP_TWO_PARTY_STATE),
    ({"skip_two_party_states": True}, "ny", NY, None, "both", r.CONSENT_ONE_PARTY),
    ({"skip_two_party_states": True}, "ca", NY, None, "agent", r.CONSENT_AGENT_TWO_PARTY),
    ({"skip_two_party_states": True}, "ny", TOLL_FREE, None, "agent", r.CONSENT_PROSPECT_UNKNOWN),
    # never_record_prospect_side
    ({"never_record_prospect_side": True}, "ny", NY, None, "agent", r.NEVER_RECORD_PROSPECT_SIDE),
    ({"never_record_prospect_side": True, "skip_two_party_states": True}, "ny", CA, None,
     "none", r.SKIP_TWO_PARTY_STATE),
    # editable two-party list
    ({"two_party_states": ["NY"]}, "tx", NY, None, "agent", r.CONSENT_PROSPECT_TWO_PARTY),
    ({"two_party_states": []}, "ca", CA, None, "both", r.CONSENT_ONE_PARTY),
]  # fmt: skip


@pytest.mark.parametrize(("consent", "agent", "number", "state", "legs", "reason"), JURISDICTION)
def test_jurisdiction(
    consent: dict[str, Any], agent: str, number: str, state: str | None, legs: str, reason: str
) -> None:
    d = run(config(consent=consent, org=ALL_CALLS), agent=agent, number=number, state=state)
    assert d.legs == legs
    assert reason in d.reasons


# Consent modes: (mode, agent, number, expected legs, reasons that must fire)
CONSENT: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("prospect_location", "ny", NY, "both", (r.CONSENT_ONE_PARTY,)),
    ("prospect_location", "ca", NY, "both", (r.CONSENT_ONE_PARTY,)),  # agent state ignored
    ("prospect_location", "nostate", NY, "both", (r.CONSENT_ONE_PARTY,)),
    ("prospect_location", "ny", CA, "agent", (r.CONSENT_PROSPECT_TWO_PARTY,)),
    ("prospect_location", "ny", TOLL_FREE, "agent", (r.CONSENT_PROSPECT_UNKNOWN,)),
    ("either_location", "ny", NY, "both", (r.CONSENT_ONE_PARTY,)),
    ("either_location", "ca", NY, "agent", (r.CONSENT_AGENT_TWO_PARTY,)),
    ("either_location", "ny", CA, "agent", (r.CONSENT_PROSPECT_TWO_PARTY,)),
    ("either_location", "ca", CA, "agent",
     (r.CONSENT_AGENT_TWO_PARTY, r.CONSENT_PROSPECT_TWO_PARTY)),
    ("either_location", "nostate", NY, "agent", (r.CONSENT_AGENT_UNKNOWN,)),
    ("either_location", "ny", TOLL_FREE, "agent", (r.CONSENT_PROSPECT_UNKNOWN,)),
    ("either_location", "nostate", TOLL_FREE, "agent",
     (r.CONSENT_AGENT_UNKNOWN, r.CONSENT_PROSPECT_UNKNOWN)),
    ("user_location", "ny", NY, "both", (r.CONSENT_ONE_PARTY,)),
    ("user_location", "ca", NY, "agent", (r.CONSENT_AGENT_TWO_PARTY,)),
    ("user_location", "ny", CA, "agent", (r.CONSENT_PROSPECT_TWO_PARTY,)),
    ("user_location", "nostate", NY, "agent", (r.CONSENT_AGENT_UNKNOWN,)),
    ("user_location", "ny", TOLL_FREE, "agent", (r.CONSENT_PROSPECT_UNKNOWN,)),
]  # fmt: skip


@pytest.mark.parametrize(("mode", "agent", "number", "legs", "fired"), CONSENT)
def test_consent_modes(
    mode: str, agent: str, number: str, legs: str, fired: tuple[str, ...]
) -> None:
    d = run(config(consent={"mode": mode}, org=ALL_CALLS), agent=agent, number=number)
    assert d.legs == legs
    consent_reasons = tuple(x for x in d.reasons if x.startswith("consent."))
    assert consent_reasons == fired


def test_either_and_user_location_coincide() -> None:
    for agent in ("ny", "ca", "nostate", "tx"):
        for number in (NY, CA, TX, MT, TOLL_FREE, NEW_OVERLAY, "anonymous"):
            a = run(config(consent={"mode": "either_location"}), agent=agent, number=number)
            b = run(config(consent={"mode": "user_location"}), agent=agent, number=number)
            assert a == b


# prospect_location_by: (setting, number, prospect.state, expected legs)
LOCATION_BY: list[tuple[str, str, str | None, str]] = [
    ("area_code", NY, None, "both"),
    ("area_code", NY, "CA", "both"),  # the state field is ignored
    ("area_code", CA, "NY", "agent"),
    ("area_code", NEW_OVERLAY, None, "agent"),  # 357 is California even if the library lags
    ("state", NY, "NY", "both"),
    ("state", NY, "ny", "both"),  # case-insensitive
    ("state", NY, "CA", "agent"),
    ("state", CA, "NY", "both"),  # the area code is ignored
    ("state", NY, None, "agent"),  # missing: unknown, no fallback to the area code
    ("state", NY, "ZZ", "agent"),  # invalid: unknown
    ("state", TOLL_FREE, "TX", "both"),
]


@pytest.mark.parametrize(("by", "number", "state", "legs"), LOCATION_BY)
def test_prospect_location_by(by: str, number: str, state: str | None, legs: str) -> None:
    cfg = config(consent={"mode": "prospect_location", "prospect_location_by": by}, org=ALL_CALLS)
    assert run(cfg, number=number, state=state).legs == legs


def test_state_field_applies_only_to_us_numbers() -> None:
    cfg = config(consent={"prospect_location_by": "state"}, org=ALL_CALLS)
    d = run(cfg, number=UK, state="NY")
    assert d.legs == "agent" and r.INTERNATIONAL_AGENT_SIDE in d.reasons


def test_never_record_states_with_state_field() -> None:
    cfg = config(consent={"prospect_location_by": "state", "never_record_states": ["NY"]})
    assert run(cfg, number=TX, state="NY").legs == "none"
    assert run(cfg, number=NY, state="TX").legs == "both"  # the area code does not count


UNPARSEABLE = ["anonymous", "Anonymous", "withheld", "", None, "garbage", "12ab", "+1 12", "+999"]


@pytest.mark.parametrize("number", UNPARSEABLE)
def test_unparseable_number_us_agent_gets_agent_side(number: str | None) -> None:
    d = run(config(org=ALL_CALLS), agent="ny", number=number)
    assert d.legs == "agent"
    assert r.PROSPECT_UNKNOWN in d.reasons


@pytest.mark.parametrize("number", UNPARSEABLE)
def test_unparseable_number_non_us_agent_gets_none(number: str | None) -> None:
    d = run(config(org=ALL_CALLS), agent="gb", number=number)
    assert d.legs == "none"
    assert r.FOREIGN_AGENT_UNKNOWN_PROSPECT in d.reasons


def test_unparseable_beats_country_restriction_for_us_agent() -> None:
    cfg = config(consent={"international": {"restrict_to_countries": True, "countries": ["CA"]}})
    assert run(cfg, number="anonymous").legs == "agent"


def test_missing_prospect_is_unknown() -> None:
    from policy import CallFacts

    f = CallFacts.from_dict({"call_id": "x", "direction": "inbound", "agent": "ny"})
    assert decide(config(), f).legs == "agent"


def test_unlisted_agent_is_us_with_unknown_state() -> None:
    d = run(config(org=ALL_CALLS), agent="someone-new", number=NY)
    assert d.legs == "agent"
    assert d.reasons[:2] == (r.AGENT_UNLISTED, r.CONSENT_AGENT_UNKNOWN)


# Rule 5: (mode, autostart, can_start, can_stop)
MODE_FLAGS = [
    ("all_force", True, False, False),
    ("all_calls", True, True, True),
    ("on_demand", False, True, True),
]


@pytest.mark.parametrize(("mode", "autostart", "can_start", "can_stop"), MODE_FLAGS)
def test_mode_flags(mode: str, autostart: bool, can_start: bool, can_stop: bool) -> None:
    d = run(config(org={"default_mode": mode}))
    assert (d.legs, d.mode) == ("both", mode)
    assert (d.autostart, d.agent_can_start, d.agent_can_stop) == (autostart, can_start, can_stop)
    assert d.agent_can_pause  # card numbers must never be kept, all_force included
    assert d.reasons[-1] == f"mode.{mode}"


def test_mode_never_is_none_but_reports_mode() -> None:
    d = run(config(org={"default_mode": "never"}))
    assert d.legs == "none" and d.mode == "never" and d.reasons[-1] == r.MODE_NEVER
    assert not (d.autostart or d.agent_can_start or d.agent_can_stop or d.agent_can_pause)


@pytest.mark.parametrize("mode", ["all_force", "all_calls", "on_demand"])
def test_allow_pause_false(mode: str) -> None:
    d = run(config(org={"default_mode": mode, "allow_pause": False}))
    assert d.legs == "both" and not d.agent_can_pause
    assert d.reasons[-1] == r.PAUSE_DISABLED


def test_jurisdiction_none_still_reports_mode_and_clears_flags() -> None:
    cfg = config(
        consent={"never_record_states": ["NY"]},
        campaigns={"c": {"mode": "all_force", "announcement": "beep"}},
    )
    d = run(cfg, campaign="c")
    assert d.legs == "none" and d.mode == "all_force" and d.announce is None
    assert not (d.autostart or d.agent_can_start or d.agent_can_stop or d.agent_can_pause)


def test_agent_side_keeps_mode_flags() -> None:
    d = run(config(org={"default_mode": "all_force"}), agent="ny", number=CA)
    assert d.legs == "agent" and d.autostart and not d.agent_can_stop and d.agent_can_pause


def test_decision_is_immutable_and_json_able() -> None:
    import dataclasses
    import json

    d = run(config())
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.legs = "none"  # type: ignore[misc]
    out = json.loads(json.dumps(d.to_dict()))
    assert type(d).from_dict(out) == d
    assert list(out) == [
        "legs", "autostart", "agent_can_start", "agent_can_stop", "agent_can_pause",
        "mode", "announce", "reasons",
    ]  # fmt: skip
