"""The recorded ARI streams routed through the live Stasis app's own router.

``StasisApp._route`` turns each event into work for the call through the
translator (``ari_app.translate``); here that work is captured instead of run
(no Asterisk, no network), and compared with what the stream itself says:
every party Asterisk put into Stasis for a call is bridged, every party that
left ends the call, each agent DTMF toggle the machine saw in the replay is
acted on once, and a transfer done inside Asterisk is carried out.
"""

from __future__ import annotations

from pathlib import Path
from types import CoroutineType
from typing import Any

import pytest

from ari_app.app import StasisApp
from ari_app.client import AriClient
from ari_app.translate import GONE, NativeTransfer
from callcore.events import Decide, DeliverSegment, StopCapture, TransferCompleted
from callcore.finish import Handoff
from callcore.ids import CONTINUE_VAR, is_true
from callcore.registry import CallRegistry
from callcore.state import CallState
from callcore.state_store import StateStore
from policy import Config
from storage.segment import FinishedSegment
from tests.replay.replayer import Replayer, load
from tests.replay.test_ari_replay import STREAMS

Spawned = list[tuple[str, dict[str, Any]]]


class _NoSink:
    async def accept_segment(self, segment: FinishedSegment) -> str:
        raise AssertionError("nothing is delivered: the router's work is not run here")


def live_app(tmp: Path, policy: Config) -> tuple[StasisApp, Spawned]:
    """A Stasis app whose spawned work is recorded (name and arguments), not run."""
    client = AriClient("http://127.0.0.1:9/ari", "u", "p", "callrec-test")  # never called
    app = StasisApp(
        client,
        config=lambda: policy,
        registry=CallRegistry(),
        store=StateStore(tmp / "state"),
        handoff=Handoff(_NoSink(), tmp / "pending"),
        recording_dir=tmp,
        agent_endpoint=lambda a: f"PJSIP/{a}",
        customer_endpoint=lambda n: f"PJSIP/{n}",
    )
    spawned: Spawned = []

    def record(coro: CoroutineType[Any, Any, Any], what: str) -> None:
        assert coro.cr_frame is not None  # not started yet: its frame holds the arguments
        args = {k: v for k, v in coro.cr_frame.f_locals.items() if k != "self"}
        spawned.append((coro.cr_code.co_name, args))
        coro.close()

    app._spawn = record  # type: ignore[method-assign]
    return app, spawned


def route(app: StasisApp, events: list[dict[str, Any]]) -> None:
    for event in events:
        if event.get("type") == "CallrecCall" and event["call_id"] not in app.calls:
            # What the live app set up itself (originate, inbound) before
            # Asterisk's events about the call arrive.
            call = CallState(
                call_id=event["call_id"],
                source="ari",
                direction=event["direction"],
                agent=event["agent"],
                customer_number=event.get("customer_number"),
            )
            call.channels = dict(event.get("channels") or {})
            app._track(call)
        app._route(event)


def calls_of(spawned: Spawned, name: str, call_id: str) -> list[dict[str, Any]]:
    def owner(args: dict[str, Any]) -> str:
        call = args.get("call")
        return str(call.call_id if isinstance(call, CallState) else args.get("call_id", ""))

    return [args for n, args in spawned if n == name and owner(args) == call_id]


@pytest.mark.parametrize("path", STREAMS, ids=lambda p: p.stem.removeprefix("test_")[:50])
async def test_live_router_does_what_the_stream_says(
    stasis_policy: Config, path: Path, tmp_path: Path
) -> None:
    events = load(path)
    app, spawned = live_app(tmp_path, stasis_policy)
    route(app, events)
    outcome = Replayer(stasis_policy).play(events)
    known = {e["call_id"] for e in events if e.get("type") == "CallrecCall"}
    assert known, "a recorded stream names its calls"
    for call_id in known:
        # Every party Asterisk put into Stasis for the call is bridged.
        for event in events:
            args = event.get("args") or []
            if event.get("type") == "StasisStart" and args[:2] == ["call", call_id]:
                if args[2] == "transfer" and not any(
                    e.get("type") == "CallrecTransfer" and e["call_id"] == call_id for e in events
                ):
                    continue
                channel = event["channel"]["id"]
                expected = {"call_id": call_id, "role": args[2], "channel_id": channel}
                arrived = calls_of(spawned, "_party_arrived", call_id)
                assert expected in arrived, (expected, arrived)
        # A hangup of a party (seen by the machine in the replay) ends the call.
        hung_up = [t for t in outcome.transitions[call_id] if t[1] == "HungUp"]
        left = calls_of(spawned, "_party_left", call_id)
        assert bool(left) == bool(hung_up), (left, hung_up)
        gone = {str((e.get("channel") or {}).get("id")) for e in events if e.get("type") in GONE}
        assert all(a["channel_id"] in gone for a in left)
        # Each DTMF toggle the machine got is acted on once, in order.
        toggles = [t for t in outcome.transitions[call_id] if t[1] == "AgentToggle"]
        assert len(calls_of(spawned, "_dtmf_action", call_id)) == len(toggles)


NATIVE = [
    p
    for p in STREAMS
    if "transfer_done_inside_asterisk" in p.stem or "attended_transfer_from_a_sip_phone" in p.stem
]


@pytest.mark.parametrize("path", NATIVE, ids=lambda p: p.stem.removeprefix("test_")[:50])
async def test_a_transfer_inside_asterisk_is_carried_out(
    stasis_policy: Config, path: Path, tmp_path: Path
) -> None:
    """The translator's TransferCompleted, and nothing else, starts the app's transfer."""
    events = load(path)
    app, spawned = live_app(tmp_path, stasis_policy)
    route(app, events)
    (call_id,) = {e["call_id"] for e in events if e.get("type") == "CallrecCall"}
    replaced = [e for e in events if e.get("type") == "StasisStart" and e.get("replace_channel")]
    assert len(replaced) == 1, "the stream holds one transfer inside Asterisk"
    old, new = replaced[0]["replace_channel"]["id"], replaced[0]["channel"]["id"]
    native = calls_of(spawned, "_native_transfer", call_id)
    assert len(native) == 1, native
    done: TransferCompleted = native[0]["done"]
    facts: NativeTransfer = native[0]["native"]
    assert (facts.old, facts.channel) == (old, new)
    # The new agent and checkbox are what the recorded events say.
    kinds = {e.get("type") for e in events}
    flag = [
        e["value"]
        for e in events
        if e.get("type") == "ChannelVarset"
        and e.get("variable") == CONTINUE_VAR
        and e["channel"]["id"] == old
    ]
    assert facts.flag_seen == bool(flag)
    assert done.continue_recording == (bool(flag) and is_true(flag[-1]))
    if "BridgeAttendedTransfer" in kinds:
        (transfer,) = [e for e in events if e.get("type") == "BridgeAttendedTransfer"]
        target = transfer["transfer_target"]
        assert facts.target == target["id"]
        dialled = [
            (transfer.get(leg) or {}).get("dialplan", {}).get("exten", "")
            for leg in ("transfer_target", "transferer_second_leg")
        ]  # the consultation's target, or what the transferring phone dialled
        assert done.agent == next(x for x in dialled if x not in ("", "s")) == "a2"
    else:
        (transfer,) = [e for e in events if e.get("type") == "BridgeBlindTransfer"]
        assert facts.target == "" and done.agent == transfer["exten"]
    # The same event, played through the machine: segment 1 ends and is
    # delivered, segment 2 is decided for the new agent after the transfer.
    outcome = Replayer(stasis_policy).play(events)
    effects = outcome.effects[call_id]
    at = next(
        i
        for i, (_, kind, _) in enumerate(outcome.transitions[call_id])
        if kind == "TransferCompleted"
    )
    assert ("TransferCompleted" in {t[1] for t in outcome.transitions[call_id]}) and at
    stops = [e for e in effects if isinstance(e, StopCapture)]
    delivered = [e for e in effects if isinstance(e, DeliverSegment)]
    decides = [e for e in effects if isinstance(e, Decide)]
    assert stops and stops[0].segment_no == 1 and delivered
    assert [(d.phase, d.agent) for d in decides][-1] == ("post_transfer", done.agent)
    assert decides[-1].continue_recording == done.continue_recording
    # The transferred-away agent's hangup ends nothing.
    assert not [a for a in calls_of(spawned, "_party_left", call_id) if a["channel_id"] == old]
    # The transfer is handed over once: nothing of it stays with the translator.
    assert app.translator.take_native(call_id) is None
    assert not app.translator.replacing(call_id)


async def test_a_transfer_whose_event_never_comes_is_completed_by_the_deadline(
    stasis_policy: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Bridge*Transfer and no later event: the router's deadline completes the transfer."""
    (path,) = [p for p in NATIVE if "transfer_done_inside_asterisk" in p.stem]
    events = load(path)
    cut = next(i for i, e in enumerate(events) if e.get("replace_channel"))
    head = [e for e in events[: cut + 1] if not e.get("type", "").startswith("Bridge")]
    app, spawned = live_app(tmp_path, stasis_policy)
    route(app, head)
    (call_id,) = {e["call_id"] for e in head if e.get("type") == "CallrecCall"}
    assert not calls_of(spawned, "_native_transfer", call_id), "completed without its event"
    assert [n for n, _ in spawned].count("_transfer_deadline") == 1
    monkeypatch.setattr("ari_app.app.TRANSFER_EVENT_WAIT", 0.0)
    await app._transfer_deadline()  # the recorded StasisStart is long past
    (native,) = calls_of(spawned, "_native_transfer", call_id)
    new = events[cut]["channel"]
    assert native["native"].channel == new["id"] and native["native"].target == ""
    assert native["done"].agent == new["dialplan"]["exten"] == "a2"  # the extension dialled
    assert not app.translator.replacing(call_id)


async def test_an_api_transfer_whose_agent_never_answers_goes_back(
    stasis_policy: Config, tmp_path: Path
) -> None:
    """The API transfer's stream, cut where the new agent would answer: it hangs up instead."""
    (path,) = [p for p in STREAMS if "transfer_gives_two_segments" in p.stem]
    events = load(path)
    cut = next(i for i, e in enumerate(events) if (e.get("args") or [])[2:] == ["transfer"])
    channel = events[cut]["channel"]
    head = [dict(e) for e in events[:cut]]
    for event in head:
        if event.get("type") == "CallrecTransfer":
            event["transfer_channel"] = channel["id"]  # as the live app tells it
    gone = [{"type": kind, "channel": channel} for kind in GONE]
    app, spawned = live_app(tmp_path, stasis_policy)
    route(app, head + gone)
    (call_id,) = {e["call_id"] for e in head if e.get("type") == "CallrecCall"}
    failed = calls_of(spawned, "transfer_failed", call_id)
    assert [a["channel_id"] for a in failed] == [channel["id"]]  # once, for three events
    assert not calls_of(spawned, "_party_left", call_id), "the customer's call goes on"
    assert app.translator.call_of(channel["id"]) is None
