"""SPEC 2.4 rule 4 (mode resolution), lead-list campaigns, announcements, 2.5 matrix."""

from __future__ import annotations

from typing import Any

import pytest

from policy import reasons as r

from .helpers import config, run

CAMPAIGNS: dict[str, Any] = {
    "sales": {"mode": "on_demand", "lists": ["101", 102], "announcement": "sales-notice"},
    "collections": {"mode": "all_force", "post_transfer": "never", "lists": ["201"]},
    "quiet": {"mode": "never"},
}


def cfg(**extra: Any) -> Any:
    agents = {
        "ny": {"state": "NY"},
        "override": {"state": "NY", "mode": "all_calls"},
    }
    return config(campaigns=CAMPAIGNS, agents=agents, **extra)


# (agent, campaign, lead_list, expected mode, rule id)
INITIAL = [
    ("ny", "sales", None, "on_demand", r.MODE_CAMPAIGN),
    ("ny", "collections", None, "all_force", r.MODE_CAMPAIGN),
    ("ny", None, None, "on_demand", r.MODE_ORG_DEFAULT),
    ("ny", "sales", "201", "all_force", r.MODE_LEAD_LIST_CAMPAIGN),  # another campaign's list
    ("ny", "collections", "101", "on_demand", r.MODE_LEAD_LIST_CAMPAIGN),
    ("ny", "collections", 102, "on_demand", r.MODE_LEAD_LIST_CAMPAIGN),  # numeric list id
    ("ny", None, "201", "all_force", r.MODE_LEAD_LIST_CAMPAIGN),
    ("ny", "sales", "999", "on_demand", r.MODE_CAMPAIGN),  # unowned list: ignored
    ("ny", "nosuch", None, "on_demand", r.MODE_ORG_DEFAULT),  # unknown campaign
    ("override", "collections", "201", "all_calls", r.MODE_AGENT_OVERRIDE),
    ("override", "quiet", None, "all_calls", r.MODE_AGENT_OVERRIDE),
]


@pytest.mark.parametrize(("agent", "campaign", "lead_list", "mode", "rule"), INITIAL)
def test_initial_mode(
    agent: str, campaign: str | None, lead_list: Any, mode: str, rule: str
) -> None:
    d = run(cfg(), agent=agent, campaign=campaign, lead_list=lead_list)
    assert d.mode == mode
    assert rule in d.reasons


def test_unknown_names_are_visible_in_reasons() -> None:
    d = run(cfg(), campaign="nosuch", lead_list="999", queue="noq")
    assert {r.CAMPAIGN_UNKNOWN, r.LEAD_LIST_UNOWNED, r.QUEUE_UNKNOWN} <= set(d.reasons)


def test_org_default_mode() -> None:
    assert run(config(org={"default_mode": "all_force"})).mode == "all_force"


# (org.post_transfer, agent, campaign, lead_list, expected post mode, rule)
POST = [
    ("on_demand", "ny", "sales", None, "on_demand", r.MODE_POST_TRANSFER_FOLLOW_GLOBAL),
    ("all_force", "ny", "sales", None, "all_force", r.MODE_POST_TRANSFER_FOLLOW_GLOBAL),
    ("never", "ny", "sales", None, "never", r.MODE_POST_TRANSFER_FOLLOW_GLOBAL),
    ("all_force", "ny", "collections", None, "never", r.MODE_POST_TRANSFER_CAMPAIGN),
    ("all_force", "ny", "sales", "201", "never", r.MODE_POST_TRANSFER_CAMPAIGN),
    ("never", "ny", None, None, "never", r.MODE_POST_TRANSFER_ORG),
    ("all_force", "ny", "nosuch", None, "all_force", r.MODE_POST_TRANSFER_ORG),
    # the new agent's override does not apply after a transfer
    ("on_demand", "override", "sales", None, "on_demand", r.MODE_POST_TRANSFER_FOLLOW_GLOBAL),
]


@pytest.mark.parametrize(("org_post", "agent", "campaign", "lead_list", "mode", "rule"), POST)
def test_post_transfer_mode(
    org_post: str, agent: str, campaign: str | None, lead_list: str | None, mode: str, rule: str
) -> None:
    c = cfg(org={"post_transfer": org_post})
    d = run(c, agent=agent, campaign=campaign, lead_list=lead_list, phase="post_transfer")
    assert d.mode == mode and rule in d.reasons
    assert r.MODE_AGENT_OVERRIDE not in d.reasons
    assert c.post_transfer_mode_for(campaign, lead_list) == mode


def test_post_transfer_uses_new_agents_permit_and_location() -> None:
    c = config(
        org={"post_transfer": "all_force"},
        agents={"a": {"state": "NY"}, "b": {"state": "CA"}, "c": {"permit_recordings": False}},
    )
    assert run(c, agent="a", phase="post_transfer").legs == "both"
    assert run(c, agent="b", phase="post_transfer").legs == "agent"
    assert run(c, agent="c", phase="post_transfer").legs == "none"


def test_continue_recording_only_matters_post_transfer() -> None:
    c = cfg()
    initial = run(c, campaign="sales", continue_recording=True)
    assert not initial.autostart and r.TRANSFER_CONTINUE not in initial.reasons
    post = run(c, campaign="sales", phase="post_transfer", continue_recording=True)
    assert post.autostart and post.reasons[-1] == r.TRANSFER_CONTINUE
    assert not run(c, campaign="sales", phase="post_transfer").autostart


ANNOUNCE = [
    ("sales", None, None, "sales-notice"),
    ("sales", "support", None, "queue-notice"),  # the queue's wins
    ("sales", "silent", None, "sales-notice"),  # a queue without one falls back
    (None, "support", None, "queue-notice"),
    ("collections", None, None, None),
    ("collections", None, "101", "sales-notice"),  # the list's campaign
    (None, None, None, None),
]


@pytest.mark.parametrize(("campaign", "queue", "lead_list", "announce"), ANNOUNCE)
def test_announce(
    campaign: str | None, queue: str | None, lead_list: str | None, announce: str | None
) -> None:
    c = config(
        campaigns={**CAMPAIGNS, "collections": {"mode": "on_demand"}},
        queues={"support": {"announcement": "queue-notice"}, "silent": {}},
    )
    d = run(c, campaign=campaign, queue=queue, lead_list=lead_list)
    assert d.announce == announce
    assert c.announcement_for(campaign, queue, lead_list) == announce
    # once per call: never again after a transfer
    assert run(c, campaign=campaign, queue=queue, phase="post_transfer").announce is None


def test_announcement_for_before_agent_known() -> None:
    c = config(queues={"support": {"announcement": "q"}}, org={"default_mode": "never"})
    assert c.announcement_for(None, "support") == "q"  # played even if never recorded later
    off = config(queues={"support": {"announcement": "q"}}, org={"recording_enabled": False})
    assert off.announcement_for(None, "support") is None


# SPEC 2.5: post \ pre. Each cell: (pre expectation, post expectation) with
# expectations as (legs, autostart, can_start, can_stop).
NOTHING = ("none", False, False, False)
CHOOSES = ("both", False, True, True)
AUTO = ("both", True, True, True)
FORCED = ("both", True, False, False)
PRE = {"never": NOTHING, "on_demand": CHOOSES, "all_calls": AUTO, "all_force": FORCED}
POST_EXPECT = {"never": NOTHING, "on_demand": CHOOSES, "all_force": FORCED}
MATRIX = [(pre, post) for post in ("never", "on_demand", "all_force") for pre in PRE]


@pytest.mark.parametrize(("pre", "post"), MATRIX, ids=[f"{a}-then-{b}" for a, b in MATRIX])
def test_transfer_matrix(pre: str, post: str) -> None:
    c = config(campaigns={"c": {"mode": pre, "post_transfer": post}})
    before = run(c, campaign="c")
    after = run(c, campaign="c", phase="post_transfer", agent="tx")
    assert (before.legs, before.autostart, before.agent_can_start, before.agent_can_stop) == PRE[
        pre
    ]
    got = (after.legs, after.autostart, after.agent_can_start, after.agent_can_stop)
    assert got == POST_EXPECT[post]
    assert before.mode == pre and after.mode == post
    # the transferring agent's checkbox starts an on_demand segment, nothing else
    cont = run(c, campaign="c", phase="post_transfer", agent="tx", continue_recording=True)
    if post == "on_demand":
        assert cont.autostart and cont.agent_can_stop
    else:
        assert (cont.legs, cont.autostart, cont.agent_can_start, cont.agent_can_stop) == got


@pytest.mark.parametrize("post", ["never", "on_demand", "all_force"])
def test_matrix_follow_global(post: str) -> None:
    c = config(org={"post_transfer": post}, campaigns={"c": {"mode": "all_calls"}})
    after = run(c, campaign="c", phase="post_transfer")
    assert (after.legs, after.autostart, after.agent_can_start, after.agent_can_stop) == (
        POST_EXPECT[post]
    )
