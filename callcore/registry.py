"""The calls in progress, whichever path (Stasis or dialplan) controls them.

The HTTP API and the console talk only to this registry; each call path
registers its calls with itself as the controller. That keeps the API free of
Asterisk specifics and lets one console drive both kinds of call.
"""

from __future__ import annotations

from typing import Any, Protocol

from callcore.actions import allowed_actions, check_action
from callcore.bus import EventBus
from callcore.state import CallState


class CallNotFound(LookupError):
    code = "call.not_found"


class CallPathUnavailable(RuntimeError):
    """Asterisk refused or could not take a request that places a call (link
    down, channel refused): the API answers 503 with this code, never a 500."""

    code = "calls.asterisk_unavailable"


class CallOnOtherNode(CallNotFound):
    """The call is in progress on another node: act on it through that node's API."""

    code = "call.other_node"

    def __init__(self, call_id: str, node: str, url: str) -> None:
        super().__init__(f"call {call_id!r} is on node {node!r}: use its API at {url}")
        self.node = node
        self.url = url


class ClusterView(Protocol):
    """The other nodes' calls in progress (multi-node sites; see callrec.cluster)."""

    def owner(self, call_id: str) -> tuple[str, str] | None:
        """(node id, API URL) of the node that has the call, if another node has it."""
        ...

    def calls(self) -> list[dict[str, Any]]:
        """Snapshots of the other nodes' calls, each with ``node`` and ``node_url``."""
        ...


class CallController(Protocol):
    async def perform(self, call: CallState, action: str) -> None:
        """Start/stop/pause/resume; the action was already checked as allowed."""
        ...

    async def transfer(self, call: CallState, agent: str, continue_recording: bool) -> None: ...


class CallRegistry:
    def __init__(self, bus: EventBus | None = None) -> None:
        self.bus = bus or EventBus()
        self._calls: dict[str, tuple[CallState, CallController]] = {}
        self.post_transfer_mode: Any = None  # set by the service: (call) -> mode str
        self.cluster: ClusterView | None = None  # set by the service: the other nodes

    def register(self, call: CallState, controller: CallController) -> None:
        self._calls[call.call_id] = (call, controller)
        self.changed(call)

    def unregister(self, call_id: str) -> None:
        entry = self._calls.pop(call_id, None)
        if entry:
            self.bus.publish({"type": "call_ended", "call_id": call_id})

    def get(self, call_id: str) -> CallState:
        try:
            return self._calls[call_id][0]
        except KeyError:
            owner = self.cluster.owner(call_id) if self.cluster is not None else None
            if owner is not None:
                raise CallOnOtherNode(call_id, *owner) from None
            raise CallNotFound(f"no call {call_id!r} in progress") from None

    def all(self) -> list[CallState]:
        return [call for call, _ in self._calls.values()]

    def remote(self) -> list[dict[str, Any]]:
        """Snapshots of calls in progress on the other nodes (none on a single node)."""
        return self.cluster.calls() if self.cluster is not None else []

    def changed(self, call: CallState) -> None:
        self.bus.publish({"type": "call", "call": self.snapshot(call)})

    async def act(self, call_id: str, action: str) -> CallState:
        call = self.get(call_id)
        check_action(call, action)
        await self._calls[call_id][1].perform(call, action)
        self.changed(call)
        return call

    async def transfer(self, call_id: str, agent: str, continue_recording: bool) -> CallState:
        call = self.get(call_id)
        await self._calls[call_id][1].transfer(call, agent, continue_recording)
        self.changed(call)
        return call

    def snapshot(self, call: CallState) -> dict[str, Any]:
        seg = call.segment
        return {
            "call_id": call.call_id,
            "source": call.source,
            "direction": call.direction,
            "agent": call.agent,
            "campaign": call.campaign,
            "queue": call.queue,
            "customer_number": call.customer_number,
            "phase": call.phase,
            "decision": call.decision.to_dict() if call.decision else {},
            "recording": call.recording,
            "paused": call.paused,
            "segment_no": seg.segment_no if seg else None,
            "segments_done": call.segments - (1 if seg else 0),
            "allowed": allowed_actions(call) if call.decision else {},
            "post_transfer_mode": (
                self.post_transfer_mode(call) if self.post_transfer_mode else None
            ),
        }
