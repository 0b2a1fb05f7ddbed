"""Call facts parsing and allowed_action refusals."""

from __future__ import annotations

from typing import Any

import pytest

from policy import CallFacts, CallFactsError, allowed_action
from policy import reasons as r

from .helpers import CA, config, run

BASE = {"call_id": "c1", "direction": "inbound", "agent": "a1"}


def test_from_dict_full() -> None:
    f = CallFacts.from_dict(
        {
            **BASE,
            "campaign": "sales",
            "lead_list": 101,
            "queue": "q",
            "prospect": {"number": "+12125550100", "state": "ny"},
            "phase": "post_transfer",
            "continue_recording": True,
        }
    )
    assert f.lead_list == "101" and f.prospect_state == "NY" and f.phase == "post_transfer"
    assert CallFacts.from_dict(f.to_dict()) == f


def test_dotted_prospect_keys() -> None:
    f = CallFacts.from_dict({**BASE, "prospect.number": "+1212", "prospect.state": "TX"})
    assert f.prospect_number == "+1212" and f.prospect_state == "TX"


BAD: list[tuple[Any, str]] = [
    ({"direction": "inbound", "agent": "a"}, "call_id"),
    ({**BASE, "call_id": ""}, "call_id"),
    ({**BASE, "agent": None}, "agent"),
    ({**BASE, "direction": "sideways"}, "direction"),
    ({k: v for k, v in BASE.items() if k != "direction"}, "direction"),
    ({**BASE, "phase": "later"}, "phase"),
    ({**BASE, "continue_recording": "yes"}, "continue_recording"),
    ({**BASE, "campagin": "x"}, "campagin"),
    ({**BASE, "prospect": "+1212"}, "prospect"),
    ({**BASE, "prospect": {"numbr": "1"}}, "numbr"),
    ({**BASE, "queue": ["q"]}, "queue"),
    ({**BASE, "agent": True}, "agent"),
    ([1, 2], "object"),
]


@pytest.mark.parametrize(("data", "mentions"), BAD)
def test_from_dict_errors(data: Any, mentions: str) -> None:
    with pytest.raises(CallFactsError, match=mentions):
        CallFacts.from_dict(data)


# (mode, active, paused, action, ok, refusal)
ACTIONS = [
    ("all_force", True, False, "stop", False, r.ACTION_STOP_FORBIDDEN_ALL_FORCE),
    ("all_force", False, False, "start", False, r.ACTION_START_FORBIDDEN_ALL_FORCE),
    ("all_force", True, False, "pause", True, None),
    ("all_force", True, True, "resume", True, None),
    ("all_calls", True, False, "stop", True, None),
    ("all_calls", False, False, "start", True, None),
    ("on_demand", False, False, "start", True, None),
    ("on_demand", True, False, "start", False, r.ACTION_ALREADY_RECORDING),
    ("on_demand", False, False, "stop", False, r.ACTION_NOT_RECORDING),
    ("on_demand", False, False, "pause", False, r.ACTION_NOT_RECORDING),
    ("on_demand", True, True, "pause", False, r.ACTION_ALREADY_PAUSED),
    ("on_demand", True, False, "resume", False, r.ACTION_NOT_PAUSED),
    ("on_demand", True, True, "stop", True, None),
    ("never", False, False, "start", False, r.ACTION_NOTHING_RECORDABLE),
]


@pytest.mark.parametrize(("mode", "active", "paused", "action", "ok", "refusal"), ACTIONS)
def test_allowed_action(
    mode: str, active: bool, paused: bool, action: str, ok: bool, refusal: str | None
) -> None:
    d = run(config(org={"default_mode": mode}))
    assert allowed_action(d, action, active, paused) == (ok, refusal)


def test_pause_disabled() -> None:
    d = run(config(org={"allow_pause": False}))
    assert allowed_action(d, "pause", True, False) == (False, r.ACTION_PAUSE_FORBIDDEN)


def test_agent_side_only_still_allows_actions() -> None:
    d = run(config(), number=CA)
    assert d.legs == "agent"
    assert allowed_action(d, "start", False, False) == (True, None)


def test_unknown_action() -> None:
    with pytest.raises(ValueError, match="allowed"):
        allowed_action(run(config()), "rewind", False, False)


def test_every_reason_is_documented() -> None:
    from pathlib import Path

    ids = [v for k, v in vars(r).items() if k.isupper() and isinstance(v, str)]
    assert set(ids) == set(r.DESCRIPTIONS)
    doc = (Path(__file__).parents[2] / "docs" / "POLICY.md").read_text()
    undocumented = [i for i in ids if f"`{i}`" not in doc]
    assert undocumented == []
