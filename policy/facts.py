"""Call facts: what the call paths know about a call when they ask for a decision.

Parsed strictly so that a typo in a key (``lead_lsit``) is an error rather
than a silently different decision; recording consent is not a place for
best-effort guesses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from policy.errors import CallFactsError

Direction = Literal["inbound", "outbound"]
Phase = Literal["initial", "post_transfer"]

_KEYS = frozenset(
    {
        "call_id", "direction", "agent", "campaign", "lead_list", "queue", "prospect",
        "prospect.number", "prospect.state", "phase", "continue_recording",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CallFacts:
    """One segment's facts (SPEC 2.2). After a transfer, ``agent`` is the new agent."""

    call_id: str
    direction: Direction
    agent: str
    campaign: str | None = None
    lead_list: str | None = None
    queue: str | None = None
    prospect_number: str | None = None
    prospect_state: str | None = None
    phase: Phase = "initial"
    continue_recording: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CallFacts:
        """Build from the JSON shape of SPEC 2.2.

        ``prospect`` is an object ``{"number": ..., "state": ...}``; the dotted
        keys ``prospect.number`` / ``prospect.state`` are accepted too.
        """
        if not isinstance(data, Mapping):
            raise CallFactsError("call facts must be a JSON object")
        unknown = sorted(set(data) - _KEYS)
        if unknown:
            raise CallFactsError(
                f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}"
            )
        prospect = data.get("prospect")
        if prospect is None:
            prospect = {}
        if not isinstance(prospect, Mapping):
            raise CallFactsError("prospect: must be an object with number and state")
        extra = sorted(set(prospect) - {"number", "state"})
        if extra:
            raise CallFactsError(
                f"prospect: unknown key(s) {', '.join(extra)}; allowed: number, state"
            )
        number = prospect.get("number", data.get("prospect.number"))
        state = prospect.get("state", data.get("prospect.state"))

        direction = data.get("direction")
        if direction not in ("inbound", "outbound"):
            raise CallFactsError(f"direction: must be 'inbound' or 'outbound' (got {direction!r})")
        phase = data.get("phase", "initial")
        if phase is None:
            phase = "initial"
        if phase not in ("initial", "post_transfer"):
            raise CallFactsError(f"phase: must be 'initial' or 'post_transfer' (got {phase!r})")
        cont = data.get("continue_recording", False)
        if cont is None:
            cont = False
        if not isinstance(cont, bool):
            raise CallFactsError(f"continue_recording: must be true or false (got {cont!r})")
        return cls(
            call_id=_required_id(data, "call_id"),
            direction=direction,
            agent=_required_id(data, "agent"),
            campaign=_optional_id(data.get("campaign"), "campaign"),
            lead_list=_optional_id(data.get("lead_list"), "lead_list"),
            queue=_optional_id(data.get("queue"), "queue"),
            prospect_number=_optional_id(number, "prospect.number"),
            prospect_state=_optional_text(state, "prospect.state"),
            phase=phase,
            continue_recording=cont,
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["prospect"] = {"number": out.pop("prospect_number"), "state": out.pop("prospect_state")}
        return out


def _required_id(data: Mapping[str, Any], key: str) -> str:
    value = _optional_id(data.get(key), key)
    if value is None:
        raise CallFactsError(f"{key}: required, a non-empty string")
    return value


def _optional_id(value: object, key: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise CallFactsError(f"{key}: must be a string (got {value!r})")
    text = str(value).strip()
    return text or None


def _optional_text(value: object, key: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CallFactsError(f"{key}: must be a string (got {value!r})")
    return value.strip().upper() or None
