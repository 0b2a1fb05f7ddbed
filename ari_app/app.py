"""The Stasis application: call flows, recording control and restart recovery.

Events are read by one task and only *routed* there: long work (bridging,
snooping, stopping) runs in per-call tasks, serialised by a per-call lock, so
the event loop never stalls long enough for Asterisk's queues to back up.

Every change of a call is persisted (``callcore.state_store``) before the
next Asterisk request, so after a restart or a dropped websocket the app
rebuilds its calls from that state plus what ARI reports, finishes what ended
while it was away and hands every segment to storage: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ari_app.capture import Capturer, event_time
from ari_app.client import CONNECTED_EVENT, AriClient, AriError, AriNotFound, AriUnavailable
from ari_app.dtmf import DtmfMatcher
from ari_app.waiters import Waiters
from callcore.actions import ActionRefused, toggle_to_action
from callcore.finish import Handoff
from callcore.registry import CallRegistry
from callcore.state import CallState
from callcore.state_store import StateStore
from policy import CallFacts, Config, decide, normalize_e164

log = logging.getLogger("callrec.ari")

SAFE_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# Agent ids fill {agent} in dial strings: no '@', ':' or '/' (another context, host, tech).
SAFE_AGENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
CONTINUE_VAR = "CALLREC_CONTINUE_RECORDING"  # the transferring agent's checkbox
REFUSAL_TONE = "sound:beeperr"  # a short error beep the agent hears (not the customer)
EVENT_TYPES = [
    "StasisStart",
    "StasisEnd",
    "ChannelDestroyed",
    "ChannelHangupRequest",
    "ChannelDtmfReceived",
    "RecordingStarted",
    "RecordingFinished",
    "RecordingFailed",
    "PlaybackFinished",
    "BridgeBlindTransfer",
    "BridgeAttendedTransfer",
    "ChannelVarset",  # only CALLREC_CONTINUE_RECORDING on an agent's channel is kept
]


class CallSetupError(ValueError):
    """Bad input for a new call (unknown agent, bad number): a 400, not a crash."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class StasisApp:
    """Owns every call that runs through Stasis on one Asterisk."""

    def __init__(
        self,
        client: AriClient,
        *,
        config: Callable[[], Config],
        registry: CallRegistry,
        store: StateStore,
        handoff: Handoff,
        recording_dir: Path,
        agent_endpoint: Callable[[str], str],
        customer_endpoint: Callable[[str], str],
        dtmf: dict[str, str] | None = None,
        dtmf_timeout: float = 2.0,
        default_region: str = "US",
        originate_formats: str | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.registry = registry
        self.store = store
        self.handoff = handoff
        self.agent_endpoint = agent_endpoint
        self.customer_endpoint = customer_endpoint
        self.dtmf = dtmf or {"*1": "toggle_record", "*2": "toggle_pause"}
        self.dtmf_timeout = dtmf_timeout
        self.default_region = default_region
        self.originate_formats = originate_formats  # e.g. "slin" for simulated parties
        self.waiters = Waiters()
        self.capturer = Capturer(client, self.waiters, recording_dir)
        self.calls: dict[str, CallState] = {}
        self._by_channel: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._matchers: dict[str, DtmfMatcher] = {}
        # Bridge{Blind,Attended}Transfer events by the transferring channel's
        # id: they may arrive just before or just after the StasisStart of
        # the channel that replaces the agent, and tell who the new agent is.
        self._transfer_events: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._events_task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.connected = asyncio.Event()
        self.latencies: list[float] = []  # last StasisStart -> all captures started (s)

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._events_task = asyncio.create_task(self._consume())

    async def stop(self) -> None:
        """Stop listening; live calls and captures continue in Asterisk."""
        self._stop.set()
        if self._events_task:
            self._events_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._events_task
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any, what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s failed", what)

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lock(self, call_id: str) -> asyncio.Lock:
        return self._locks.setdefault(call_id, asyncio.Lock())

    def _save(self, call: CallState) -> None:
        self.store.save(call)
        self.registry.changed(call)

    def _track(self, call: CallState) -> None:
        self.calls[call.call_id] = call
        for channel_id in call.channels.values():
            self._by_channel[channel_id] = call.call_id
        self.registry.register(call, self)

    # --------------------------------------------------------------- events

    async def _consume(self) -> None:
        async for event in self.client.events(stop=self._stop):
            try:
                self._route(event)
            except Exception:
                log.exception("event %s could not be routed", event.get("type"))

    def _route(self, event: dict[str, Any]) -> None:
        kind = event.get("type", "")
        if kind == CONNECTED_EVENT:
            self._spawn(self._on_connected(), "reconcile")
            return
        channel = event.get("channel") or {}
        channel_id = channel.get("id", "")
        if kind == "StasisStart":
            self.waiters.resolve("StasisStart", channel_id, event)
            args = event.get("args") or []
            replaced = event.get("replace_channel") or {}
            if not args and replaced.get("id") in self._by_channel:
                # Mark the replaced agent now: its hangup may be routed before
                # the transfer task runs, and must not end the customer's call.
                owner = self.calls.get(self._by_channel[replaced["id"]])
                if owner is not None:
                    owner.extra.setdefault("previous_agents", []).append(replaced["id"])
                self.waiters.expect("Transfer", replaced["id"])
                self._spawn(self._native_transfer(event), "native transfer")
            elif args and args[0] == "inbound":
                self._spawn(self._inbound(event), "inbound call")
            elif args and args[0] == "call" and len(args) >= 3:
                call = self.calls.get(args[1])
                if call is not None:
                    call.extra["stasis_start_at"] = time.time()
                self._spawn(self._party_arrived(args[1], args[2], channel_id), "call party")
        elif kind in ("RecordingStarted", "RecordingFinished", "RecordingFailed"):
            name = event["recording"]["name"]
            self.waiters.resolve(kind, name, event)
            if kind == "RecordingFailed":
                self.waiters.resolve("RecordingFinished", name, event)
                log.error("recording %s failed: %s", name, event["recording"].get("cause"))
        elif kind == "PlaybackFinished":
            self.waiters.resolve("PlaybackFinished", event["playback"]["id"], event)
        elif kind == "ChannelDtmfReceived":
            self._dtmf(channel_id, event["digit"])
        elif kind in ("StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"):
            self.waiters.resolve("Gone", channel_id, event)
            call_id = self._by_channel.get(channel_id)
            if call_id:
                at = event_time(event)
                self._spawn(self._party_left(call_id, channel_id, at), "hangup")
        elif kind == "ChannelVarset":
            if event.get("variable") == CONTINUE_VAR and channel_id in self._by_channel:
                call = self.calls.get(self._by_channel[channel_id])
                if call is not None and call.channels.get("agent") == channel_id:
                    call.extra["continue_flag"] = str(event.get("value", ""))
                    self._save(call)
        elif kind in ("BridgeBlindTransfer", "BridgeAttendedTransfer"):
            transferer = channel_id or (event.get("transferer_first_leg") or {}).get("id", "")
            log.info("%s by %s (%s)", kind, transferer, event.get("result", "?"))
            if transferer in self._by_channel:
                self._transfer_events[transferer] = event
                self.waiters.resolve("Transfer", transferer, event)

    # ----------------------------------------------------------- call flows

    def _validate_agent(self, agent: str) -> None:
        if not SAFE_AGENT.match(agent or ""):
            raise CallSetupError("call.bad_agent", f"agent id {agent!r} is not a valid id")

    async def originate_call(
        self,
        *,
        agent: str,
        number: str,
        campaign: str | None = None,
        lead_list: str | None = None,
        prospect_state: str | None = None,
    ) -> CallState:
        """Outbound (console): ring the agent and dial the lead; bridge when both answer."""
        self._validate_agent(agent)
        try:  # reconcile first, so a new call is never mistaken for a stale one
            await asyncio.wait_for(self.connected.wait(), 10)
        except TimeoutError:
            raise CallSetupError("calls.not_ready", "not connected to Asterisk yet") from None
        for name, value in (("campaign", campaign), ("lead_list", lead_list)):
            if value is not None and not SAFE_ID.match(value):
                raise CallSetupError(f"call.bad_{name}", f"{name} {value!r} is not a valid id")
        e164 = normalize_e164(number, self.default_region)
        if e164 is None:
            raise CallSetupError("call.bad_number", f"{number!r} is not a dialable phone number")
        call = CallState(
            call_id=uuid.uuid4().hex,
            source="ari",
            direction="outbound",
            agent=agent,
            campaign=campaign,
            lead_list=lead_list,
            customer_number=e164,
            prospect_state=prospect_state,
        )
        call.channels = {"agent": f"{call.call_id}-a1", "customer": f"{call.call_id}-c"}
        self._track(call)
        self._save(call)
        for role in ("agent", "customer"):
            endpoint = (
                self.agent_endpoint(agent) if role == "agent" else self.customer_endpoint(e164)
            )
            await self.client.originate(
                endpoint,
                app_args=f"call,{call.call_id},{role}",
                channel_id=call.channels[role],
                caller_id=e164 if role == "agent" else None,
                formats=self.originate_formats,
            )
        return call

    async def _inbound(self, event: dict[str, Any]) -> None:
        """Dialplan: Stasis(app,inbound,QUEUE,AGENT[,CAMPAIGN]) on the caller's channel."""
        args = [*list(event.get("args") or []), "", "", ""]
        queue, agent, campaign = (a or None for a in args[1:4])
        channel = event["channel"]
        channel_id = channel["id"]
        if not agent or not SAFE_AGENT.match(agent) or (queue and not SAFE_ID.match(queue)):
            log.error(
                "inbound call %s: bad queue/agent %r/%r; hanging up", channel_id, queue, agent
            )
            with contextlib.suppress(AriError):
                await self.client.hangup(channel_id)
            return
        number = (channel.get("caller") or {}).get("number") or None
        call = CallState(
            call_id=uuid.uuid4().hex,
            source="ari",
            direction="inbound",
            agent=agent,
            queue=queue,
            campaign=campaign if campaign and SAFE_ID.match(campaign) else None,
            customer_number=number,
        )
        call.channels = {"customer": channel_id}
        self._track(call)
        self._save(call)
        await self.client.answer(channel_id)
        await self._party_arrived(call.call_id, "customer", channel_id)
        call.channels["agent"] = f"{call.call_id}-a1"
        self._track(call)
        self._save(call)
        await self.client.originate(
            self.agent_endpoint(agent),
            app_args=f"call,{call.call_id},agent",
            channel_id=call.channels["agent"],
            caller_id=number,
        )

    async def _party_arrived(self, call_id: str, role: str, channel_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None:
            with contextlib.suppress(AriError):
                await self.client.hangup(channel_id)
            return
        async with self._lock(call_id):
            if not call.bridge_id:
                bridge = await self.client.create_bridge(
                    "mixing", bridge_id=f"{call_id}-b", name=f"callrec-{call_id}"
                )
                call.bridge_id = bridge["id"]
                self._save(call)
            if role == "customer" and not call.announced:
                await self._announce(call, channel_id)
            if role == "transfer":
                await self._complete_transfer(call, channel_id)
                return
            in_bridge = call.extra.setdefault("in_bridge", [])
            if role not in in_bridge:
                in_bridge.append(role)
            if {"agent", "customer"} <= set(in_bridge) and not call.bridged_at:
                # The last party: bridge it and start the captures together (a
                # snoop needs no bridge), saving a round trip before recording.
                call.bridged_at = time.time()
                self._save(call)
                await asyncio.gather(
                    self.client.add_channel(call.bridge_id, channel_id),
                    self._decide_and_autostart(call),
                )
            else:
                await self.client.add_channel(call.bridge_id, channel_id)
                self._save(call)

    async def _announce(self, call: CallState, channel_id: str) -> None:
        """Once per call, to the prospect, before any agent is connected."""
        prompt = self.config().announcement_for(call.campaign, call.queue, call.lead_list)
        call.announced = True
        self._save(call)
        if not prompt:
            return
        media = prompt if ":" in prompt else f"sound:{prompt}"
        playback_id = f"{call.call_id}-announce"
        done = self.waiters.expect("PlaybackFinished", playback_id)
        try:
            await self.client.play(channel_id, media, playback_id=playback_id)
            await self.waiters.wait(done, 120)
        except (AriError, TimeoutError) as exc:
            log.error("call %s: announcement %s failed: %s", call.call_id, prompt, exc)
            return
        call.extra["announcement"] = prompt
        self._save(call)

    async def _decide_and_autostart(
        self, call: CallState, continue_recording: bool = False
    ) -> None:
        facts = CallFacts.from_dict(call.facts(continue_recording=continue_recording))
        decision = decide(self.config(), facts)
        call.decision = decision.to_dict()
        self._save(call)
        log.info(
            "call %s agent %s: legs=%s mode=%s autostart=%s reasons=%s",
            call.call_id,
            call.agent,
            decision.legs,
            decision.mode,
            decision.autostart,
            ",".join(decision.reasons),
        )
        if decision.autostart and decision.legs != "none":
            await self._start_segment(call)

    # ------------------------------------------------------------ recording

    async def _start_segment(self, call: CallState) -> None:
        begun = time.time()
        try:
            seg = await self.capturer.start(call, call.segments_done + 1)
        except (AriError, AriUnavailable, TimeoutError) as exc:
            log.error("call %s: capture did not start: %s", call.call_id, exc)
            if call.segment is not None:
                await self._stop_segment(call)
            return
        # StasisStart of the party that completed the call -> every capture running.
        since = call.extra.get("stasis_start_at") or call.bridged_at or begun
        self.latencies.append(time.time() - since)
        self._save(call)
        log.info(
            "call %s: segment %d recording %s (%s)",
            call.call_id,
            seg.segment_no,
            seg.recording_id,
            seg.legs,
        )

    async def _stop_segment(self, call: CallState, at: float | None = None) -> None:
        """Stop, wait for complete files, persist, then hand the segment to storage."""
        seg = call.segment
        if seg is None:
            return
        await self.capturer.stop(seg, at)
        call.segment = None
        if not any(cap.started_at for cap in seg.captures.values()):
            log.warning(
                "call %s: segment %d never started capturing; nothing to keep",
                call.call_id,
                seg.segment_no,
            )
            self._save(call)
            return
        call.segments_done = max(call.segments_done, seg.segment_no)
        self._save(call)
        await self.handoff.deliver(call, seg)  # a failed hand-off is kept and retried

    # CallController protocol (used by the HTTP API through the registry).
    async def perform(self, call: CallState, action: str) -> None:
        async with self._lock(call.call_id):
            seg = call.segment
            if action == "start":
                await self._start_segment(call)
            elif action == "stop":
                await self._stop_segment(call)
            elif action in ("pause", "resume") and seg is not None:
                await self.capturer.set_muted(seg, action == "pause")
                now = time.time()
                if action == "pause":
                    seg.open_pause(now)
                else:
                    seg.close_pause(now)
                self._save(call)
                log.info("call %s: %s at %.3f", call.call_id, action, now)

    async def transfer(self, call: CallState, agent: str, continue_recording: bool) -> None:
        """Agent A hands the customer to agent B: A's segment ends, B's is decided."""
        self._validate_agent(agent)
        async with self._lock(call.call_id):
            if call.segment is not None:
                await self._stop_segment(call)
            n = sum(1 for role in call.channels if role.startswith("agent")) + 1
            new_channel = f"{call.call_id}-a{n}"
            call.extra["transfer"] = {
                "agent": agent,
                "continue": continue_recording,
                "channel": new_channel,
            }
            self._by_channel[new_channel] = call.call_id
            self._save(call)
        await self.client.originate(
            self.agent_endpoint(agent),
            app_args=f"call,{call.call_id},transfer",
            channel_id=new_channel,
            caller_id=call.customer_number,
        )

    async def _native_transfer(self, event: dict[str, Any]) -> None:
        """A transfer done inside Asterisk (SIP REFER, a features transfer).

        Asterisk puts a new channel to the transfer target into our bridge in
        place of the agent (StasisStart with ``replace_channel``). That is the
        transfer of SPEC 2.5: A's segment ends, and the new party, whose
        dialplan extension names the agent, gets a post_transfer decision.
        The transferring agent's CALLREC_CONTINUE_RECORDING is its checkbox.
        It is kept from its ChannelVarset event when set, because the
        transferring phone hangs up its leg as soon as Asterisk reports
        success, often before a read could reach it; a read of the old and
        then (inherited ``__`` value) the new channel is the fallback.
        """
        channel = event["channel"]
        old = event["replace_channel"]["id"]
        call = self.calls.get(self._by_channel.get(old, ""))
        if call is None or call.channels.get("agent") != old:
            return
        early = asyncio.ensure_future(self._read_var(old, CONTINUE_VAR))
        try:
            agent = await self._transfer_target_agent(channel, old)
            flag = call.extra.pop("continue_flag", None)
            read = await early
            if flag is None:
                flag = read
            if flag is None:  # an inherited "__" value on the new channel
                flag = await self._read_var(channel["id"], CONTINUE_VAR)
            continue_recording = (flag or "").strip().lower() in ("1", "true", "yes", "on")
            log.info(
                "call %s: transferred in Asterisk from %s to %s", call.call_id, call.agent, agent
            )
            async with self._lock(call.call_id):
                if call.segment is not None:
                    await self._stop_segment(call)
                call.extra["transfer"] = {"agent": agent, "continue": continue_recording}
                await self._complete_transfer(call, channel["id"], in_bridge=True)
        finally:
            # Once the old agent left our channel map no transfer event of it
            # is stored again; drop the one kept (used or not) and its waiter.
            self._transfer_events.pop(old, None)
            self.waiters.discard("Transfer", old)

    async def _read_var(self, channel_id: str, name: str) -> str | None:
        """A channel variable, or None if unset or the channel is gone (any ARI error)."""
        if not channel_id:
            return None
        try:
            return await self.client.get_variable(channel_id, name)
        except AriError as exc:
            log.info("variable %s of %s not read: %s", name, channel_id, exc)
            return None

    async def _transfer_target_agent(self, channel: dict[str, Any], old: str) -> str:
        """Who took the call in a transfer done inside Asterisk.

        In order: CALLREC_AGENT on the channel now in our bridge (a site's
        dialplan sets it where it dials an agent); for an attended transfer,
        CALLREC_AGENT or the extension of the consultation's target (our
        bridge holds only Asterisk's ``Local/_attended@transfer`` link to
        it); for a blind one, the extension dialled, which names the agent.
        """
        named = await self._read_var(channel["id"], "CALLREC_AGENT")
        if named and SAFE_ID.match(named):
            return named
        event = self._transfer_events.get(old)
        if event is None:
            with contextlib.suppress(TimeoutError):
                event = await self.waiters.wait(self.waiters.expect("Transfer", old), 2.0)
        exten = str((channel.get("dialplan") or {}).get("exten", ""))
        if event is not None and event.get("type") == "BridgeAttendedTransfer":
            target = event.get("transfer_target") or {}
            named = await self._read_var(target.get("id", ""), "CALLREC_AGENT")
            if named and SAFE_ID.match(named):
                return named
            exten = str((target.get("dialplan") or {}).get("exten", ""))
        elif event is not None and event.get("exten"):
            exten = str(event["exten"])
        return exten if SAFE_ID.match(exten) and not exten.startswith("_") else "unknown"

    async def _complete_transfer(
        self, call: CallState, channel_id: str, *, in_bridge: bool = False
    ) -> None:
        info = call.extra.pop("transfer", None) or {}
        old = call.channels.get("agent")
        call.channels["agent"] = channel_id
        call.agent = info.get("agent", call.agent)
        call.phase = "post_transfer"
        call.decision = {}  # A's decision no longer applies; B's follows
        self._by_channel[channel_id] = call.call_id
        if old:
            self._by_channel.pop(old, None)
            previous = call.extra.setdefault("previous_agents", [])
            if old not in previous:
                previous.append(old)
        self._save(call)
        if not in_bridge:
            await self.client.add_channel(call.bridge_id, channel_id)
        if old:
            with contextlib.suppress(AriError):
                await self.client.remove_channel(call.bridge_id, old)
            with contextlib.suppress(AriError):
                await self.client.hangup(old)
        call.bridged_at = time.time()
        self._matchers.pop(call.call_id, None)
        await self._decide_and_autostart(call, bool(info.get("continue")))

    # ----------------------------------------------------------------- DTMF

    def _dtmf(self, channel_id: str, digit: str) -> None:
        call_id = self._by_channel.get(channel_id)
        call = self.calls.get(call_id or "")
        if call is None or call.channels.get("agent") != channel_id:
            return  # only the agent's keys control recording
        matcher = self._matchers.setdefault(call.call_id, DtmfMatcher(self.dtmf, self.dtmf_timeout))
        toggle = matcher.feed(digit, time.monotonic())
        if toggle:
            self._spawn(self._dtmf_action(call, toggle), "DTMF action")

    async def _dtmf_action(self, call: CallState, toggle: str) -> None:
        if not call.decision:
            return
        action = toggle_to_action(call, toggle)
        try:
            await self.registry.act(call.call_id, action)
            log.info("call %s: DTMF %s by agent %s", call.call_id, action, call.agent)
        except ActionRefused as refused:
            log.info("call %s: DTMF %s refused (%s)", call.call_id, action, refused.rule)
            call.extra.setdefault("refusals", []).append(refused.rule)
            self._save(call)
            await self._refusal_tone(call)

    async def _refusal_tone(self, call: CallState) -> None:
        playback_id = f"{call.call_id}-refuse-{uuid.uuid4().hex[:6]}"
        try:
            await self.client.play(call.channels["agent"], REFUSAL_TONE, playback_id=playback_id)
            await asyncio.sleep(0.6)
            await self.client.stop_playback(playback_id)
        except AriError:
            pass

    # --------------------------------------------------------------- hangup

    async def _party_left(self, call_id: str, channel_id: str, at: float) -> None:
        call = self.calls.get(call_id)
        if call is None or call.ended:
            return
        if channel_id in call.extra.get("previous_agents", []):
            return  # the transferred-away agent leaving is expected
        await self._end_call(call, at)

    async def _end_call(self, call: CallState, at: float | None = None) -> None:
        async with self._lock(call.call_id):
            if call.ended:
                return
            call.ended = True
            if call.segment is not None:
                await self._stop_segment(call, at)
            for channel_id in call.channels.values():
                with contextlib.suppress(AriError):
                    await self.client.hangup(channel_id)
            if call.bridge_id:
                with contextlib.suppress(AriError):
                    await self.client.destroy_bridge(call.bridge_id)
            self.store.delete(call.call_id)
            self.registry.unregister(call.call_id)
            self.calls.pop(call.call_id, None)
            for channel_id in call.channels.values():
                self._by_channel.pop(channel_id, None)
            self._matchers.pop(call.call_id, None)
            log.info("call %s ended after %d segment(s)", call.call_id, call.segments_done)

    # ------------------------------------------------------------ reconcile

    async def _on_connected(self) -> None:
        """After any (re)connect: Asterisk replays nothing, so rebuild from state."""
        with contextlib.suppress(AriError):
            await self.client.set_event_filter(EVENT_TYPES)
        await self.handoff.retry_pending()
        channels = {c["id"] for c in await self.client.list_channels()}
        for call in self.store.load_all(source="ari"):
            known = self.calls.get(call.call_id)
            if known is not None:
                call = known
            else:
                self._track(call)
            parties = [call.channels.get("customer"), call.channels.get("agent")]
            alive = all(p in channels for p in parties if p)
            setting_up = not call.bridged_at and time.time() - call.created_at < 60
            if not alive and setting_up and not call.ended:
                continue  # still being dialled: its channels do not exist yet
            if call.ended or not alive:
                log.warning("call %s ended while the app was away; finishing it", call.call_id)
                await self._end_call(call, _last_write(call))
                continue
            if call.segment is not None:
                for cap in call.segment.captures.values():
                    if not await self.capturer.still_live(cap):
                        log.warning("recording %s ended while away", cap.handle)
            log.info("call %s recovered (recording=%s)", call.call_id, call.recording)
        await self._reap_orphans(channels)
        self.connected.set()

    async def _reap_orphans(self, channels: set[str]) -> None:
        """Snoops and bridges no known call owns would leak: remove them."""
        owned_channels: set[str] = set()
        owned_bridges: set[str] = set()
        for call in self.calls.values():
            owned_channels.update(call.channels.values())
            if call.segment:
                owned_channels.update(c.snoop_id for c in call.segment.captures.values())
            owned_bridges.add(call.bridge_id)
        for channel in await self.client.list_channels():
            if channel.get("name", "").startswith("Snoop/") and channel["id"] not in owned_channels:
                with contextlib.suppress(AriNotFound):
                    await self.client.hangup(channel["id"])
        for bridge in await self.client.list_bridges():
            if bridge.get("name", "").startswith("callrec-") and bridge["id"] not in owned_bridges:
                with contextlib.suppress(AriNotFound):
                    await self.client.destroy_bridge(bridge["id"])


def _last_write(call: CallState) -> float | None:
    """When a call that ended unseen stopped recording: its files' last write."""
    if call.segment is None:
        return None
    times = [
        Path(cap.host_path).stat().st_mtime
        for cap in call.segment.captures.values()
        if Path(cap.host_path).exists()
    ]
    return max(times) if times else None
