"""Call facts read from the agent's channel variables, in one AGI round trip.

Every value is filtered by Asterisk (FILTER) before it reaches us and checked
again here, so caller-controlled text (a caller-ID number) can neither break
the AGI reply line nor end up anywhere it could be interpreted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from callcore.ids import TRUE_WORDS, safe_id

# Channel variable -> characters Asterisk may pass through for it. Ids keep
# "@", ":" and "/" so that one holding them is refused (callcore.ids), not
# silently turned into another id.
_ID_CHARS = "0-9A-Za-z_.@:/\\-"  # FILTER wants a literal "-" escaped
FACT_VARS: tuple[tuple[str, str], ...] = (
    ("CALLREC_CALL_ID", "0-9a-f"),
    ("CALLREC_AGENT", _ID_CHARS),
    ("CALLREC_CAMPAIGN", _ID_CHARS),
    ("CALLREC_LEAD_LIST", _ID_CHARS),
    ("CALLREC_QUEUE", _ID_CHARS),
    # Dialed or caller number: caller-controlled, so digits and + only.
    ("CALLREC_NUMBER", "0-9+"),
    ("CALLREC_PROSPECT_STATE", "A-Za-z"),
    ("CALLREC_DIRECTION", "a-z"),
    ("CALLREC_PHASE", "a-z_"),
    ("CALLREC_CONTINUE_RECORDING", "0-9A-Za-z"),
    ("CALLREC_CUSTOMER_UNIQUEID", "0-9."),
)
SEPARATOR = "|"  # in no filter set above, so it cannot appear inside a value

_HEX = re.compile(r"^[0-9a-f]{32}$")
_UNIQUEID = re.compile(r"^[0-9]{1,20}\.[0-9]{1,10}$")


class FactsError(ValueError):
    """The channel does not carry usable facts (e.g. no agent id)."""


def facts_expression() -> str:
    """The GET FULL VARIABLE argument that returns every fact, filtered."""
    parts = [f"${{FILTER({chars},${{{name}}})}}" for name, chars in FACT_VARS]
    return SEPARATOR.join(parts)


@dataclass(frozen=True)
class ChannelFacts:
    call_id: str | None
    agent: str
    campaign: str | None
    lead_list: str | None
    queue: str | None
    number: str | None
    prospect_state: str | None
    direction: str
    phase: str
    continue_recording: bool
    customer_uniqueid: str | None

    def as_call_fields(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "campaign": self.campaign,
            "lead_list": self.lead_list,
            "queue": self.queue,
            "customer_number": self.number,
            "prospect_state": self.prospect_state,
            "direction": self.direction,
        }


def _opt_id(value: str, name: str) -> str | None:
    if not value:
        return None
    if not safe_id(value):
        raise FactsError(f"{name}: not a valid id")
    return value


def parse_facts(raw: str) -> ChannelFacts:
    """Turn the joined, filtered values into checked facts."""
    values = raw.split(SEPARATOR)
    if len(values) != len(FACT_VARS):
        raise FactsError(f"expected {len(FACT_VARS)} values, got {len(values)}")
    v = dict(zip((name for name, _ in FACT_VARS), values, strict=True))
    agent = _opt_id(v["CALLREC_AGENT"], "CALLREC_AGENT")
    if agent is None:
        raise FactsError("CALLREC_AGENT is not set on the agent's channel")
    if not valid_agent_id(agent):
        raise FactsError("CALLREC_AGENT: not a valid agent id")
    call_id = v["CALLREC_CALL_ID"] or None
    if call_id is not None and not _HEX.match(call_id):
        call_id = None  # not one of ours: a fresh id is generated
    direction = v["CALLREC_DIRECTION"] or "inbound"
    if direction not in ("inbound", "outbound"):
        raise FactsError("CALLREC_DIRECTION must be inbound or outbound")
    phase = v["CALLREC_PHASE"] or "initial"
    if phase not in ("initial", "post_transfer"):
        raise FactsError("CALLREC_PHASE must be initial or post_transfer")
    customer = v["CALLREC_CUSTOMER_UNIQUEID"] or None
    if customer is not None and not _UNIQUEID.match(customer):
        customer = None
    number = v["CALLREC_NUMBER"][:32] or None
    state = v["CALLREC_PROSPECT_STATE"][:2].upper() or None
    return ChannelFacts(
        call_id=call_id,
        agent=agent,
        campaign=_opt_id(v["CALLREC_CAMPAIGN"], "CALLREC_CAMPAIGN"),
        lead_list=_opt_id(v["CALLREC_LEAD_LIST"], "CALLREC_LEAD_LIST"),
        queue=_opt_id(v["CALLREC_QUEUE"], "CALLREC_QUEUE"),
        number=number,
        prospect_state=state,
        direction=direction,
        phase=phase,
        continue_recording=v["CALLREC_CONTINUE_RECORDING"].lower() in TRUE_WORDS,
        customer_uniqueid=customer,
    )


def valid_agent_id(agent: str) -> bool:
    return safe_id(agent)


def valid_call_id(call_id: str) -> bool:
    return bool(_HEX.match(call_id))
