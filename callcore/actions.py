"""Agent actions (start/stop/pause/resume) checked against the decision.

Both call paths and the HTTP API go through :func:`check_action`, so a
forbidden action is refused the same way everywhere: with the policy's rule id
(HTTP 409 body, a short tone on DTMF), never silently ignored.
"""

from __future__ import annotations

from callcore.state import CallState
from policy import ACTIONS, allowed_action

DTMF_DEFAULTS = {"*1": "toggle_record", "*2": "toggle_pause"}


class ActionRefused(Exception):
    """The decision forbids this action now; ``rule`` says which rule."""

    code = "action.refused"

    def __init__(self, action: str, rule: str) -> None:
        super().__init__(f"{action} refused: {rule}")
        self.action = action
        self.rule = rule


def check_action(call: CallState, action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; allowed: {', '.join(ACTIONS)}")
    ok, rule = allowed_action(call.current_decision(), action, call.recording, call.paused)
    if not ok:
        raise ActionRefused(action, rule or "action.refused")


def toggle_to_action(call: CallState, toggle: str) -> str:
    """Turn a DTMF toggle into the concrete action for the call's state."""
    if toggle == "toggle_record":
        return "stop" if call.recording else "start"
    if toggle == "toggle_pause":
        return "resume" if call.paused else "pause"
    raise ValueError(f"unknown toggle {toggle!r}")


def allowed_actions(call: CallState) -> dict[str, str | None]:
    """For the console: each action -> None if allowed now, else the refusing rule."""
    out: dict[str, str | None] = {}
    decision = call.current_decision()
    for action in ACTIONS:
        ok, rule = allowed_action(decision, action, call.recording, call.paused)
        out[action] = None if ok else rule
    return out
