"""An API transfer whose new agent is never reached leaves the call with the first agent.

Fake ARI port (see test_upgrade): the call is a live, recording call taken
back from its state file; the transfer ends its segment, and then either the
originate is refused or the new agent's channel goes away unanswered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ari_app.app import StasisApp
from ari_app.client import AriConflict
from callcore.state import CallState
from tests.ari.test_upgrade import FakeAri, Sink, _app, _old_state


class TransferAri(FakeAri):
    def __init__(self, channels: list[str], refuse: bool) -> None:
        super().__init__(channels)
        self.refuse = refuse
        self.originated: list[str] = []

    async def originate(self, endpoint: str, **kwargs: Any) -> dict[str, Any]:
        if self.refuse:
            raise AriConflict(409, "Channel with given unique ID already exists", "POST", "/x")
        self.originated.append(kwargs["channel_id"])
        return {"id": kwargs["channel_id"]}


async def _recording_call(tmp_path: Path, refuse: bool) -> tuple[StasisApp, CallState, Sink]:
    old = _old_state(tmp_path)
    sink = Sink()
    app = _app(tmp_path, TransferAri(list(old["channels"].values()), refuse), sink)
    await app._on_connected()
    call = app.calls[old["call_id"]]
    assert call.recording
    return app, call, sink


def _with_first_agent(app: StasisApp, call: CallState) -> None:
    assert app.machines[call.call_id].state.name == "bridged"
    assert call.call_id in app.calls and not call.ended and call.transfer is None
    assert call.agent == "a1" and call.channels["agent"].endswith("-a1")


async def test_refused_originate_gives_the_call_back(tmp_path: Path) -> None:
    app, call, sink = await _recording_call(tmp_path, refuse=True)
    with pytest.raises(AriConflict):
        await app.transfer(call, "a2", True)
    await app.drain()
    assert len(sink.segments) == 1  # A's segment ended with the transfer and was kept
    _with_first_agent(app, call)


async def test_unanswered_new_agent_gives_the_call_back(tmp_path: Path) -> None:
    app, call, sink = await _recording_call(tmp_path, refuse=False)
    await app.transfer(call, "a2", True)
    (new_channel,) = app.client.originated  # type: ignore[attr-defined]
    assert app.machines[call.call_id].state.name == "consulting"
    await app._party_left(call.call_id, new_channel, 0.0)  # it rang out and hung up
    await app.drain()
    assert len(sink.segments) == 1
    _with_first_agent(app, call)
