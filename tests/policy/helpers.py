"""Builders shared by the policy tests: configs from dicts, facts from keywords."""

from __future__ import annotations

from typing import Any

from policy import CallFacts, Config, Decision, decide
from policy.area_codes import shipped_table
from policy.config import ConfigFile

# Numbers whose location the tests rely on.
NY = "+12125550100"  # New York, one-party
TX = "+12145550100"  # Texas, one-party
CA = "+14155550100"  # California, two-party
MT = "+14065550100"  # Montana, two-party
NEW_OVERLAY = "+13575550100"  # California overlay the library rejects as invalid
TOLL_FREE = "+18005550100"
CANADA = "+14165550100"
PUERTO_RICO = "+17875550100"
UK = "+442079460958"

AGENTS: dict[str, dict[str, Any]] = {
    "ny": {"state": "NY"},
    "tx": {"state": "TX"},
    "ca": {"state": "CA"},
    "nostate": {},
    "gb": {"country": "GB"},
    "canada": {"country": "CA"},
}


def config(**sections: Any) -> Config:
    """A Config from section dicts; agents default to the AGENTS table."""
    sections.setdefault("agents", AGENTS)
    return Config(model=ConfigFile.model_validate(sections), area_codes=shipped_table())


def facts(**kw: Any) -> CallFacts:
    data: dict[str, Any] = {"call_id": "call-1", "direction": "outbound", "agent": "ny"}
    number = kw.pop("number", NY)
    state = kw.pop("state", None)
    data["prospect"] = {"number": number, "state": state}
    data.update(kw)
    return CallFacts.from_dict(data)


def run(cfg: Config, **kw: Any) -> Decision:
    return decide(cfg, facts(**kw))
