"""The Stasis application: call flows, recording control and restart recovery.

Events are read by one task and only *routed* there: long work (bridging,
starting and stopping captures) runs in per-call tasks, serialised by a
per-call lock, so the event loop never stalls long enough for Asterisk's
queues to back up.

Every change of a call is persisted (``callcore.state_store``) before the
next Asterisk request, so after a restart or a dropped websocket the app
rebuilds its calls from that state plus what ARI reports, finishes what ended
while it was away and hands every segment to storage: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from ari_app.client import CONNECTED_EVENT, DISCONNECTED_EVENT, AriError, AriUnavailable
from ari_app.core import EVENT_TYPES, CallSetupError
from ari_app.reconcile import Reconciler
from ari_app.transfers import TransferFlows
from ari_app.translate import GONE, TRANSFER_EVENT_WAIT
from callcore.events import (
    AgentToggle,
    Event,
    HungUp,
    PartyArrived,
    TransferAbandoned,
    TransferCompleted,
)
from callcore.ids import CONTINUE_VAR, safe_id
from callcore.registry import CallPathUnavailable
from callcore.state import CallState
from policy import normalize_e164

log = logging.getLogger("callrec.ari")

__all__ = ["EVENT_TYPES", "CallSetupError", "StasisApp"]


class StasisApp(TransferFlows, Reconciler):
    """Owns every call that runs through Stasis on one Asterisk."""

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._events_task = asyncio.create_task(self._consume())

    async def stop(self) -> None:
        """Stop listening; live calls and captures continue in Asterisk."""
        self._stop.set()
        await self.drain()
        if self._events_task:
            self._events_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._events_task
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --------------------------------------------------------------- events

    async def _consume(self) -> None:
        async for event in self.client.events(stop=self._stop):
            try:
                self._route(event)
            except Exception:
                log.exception("event %s could not be routed", event.get("type"))

    def _route(self, event: dict[str, Any]) -> None:
        """Route one event: answers to our own requests, then what the translator says.

        Arrivals, hangups and DTMF toggles come from ``ari_app.translate``
        (the code the recorded streams are replayed through); what only the
        live app can do (set up an inbound call, read a transfer's variables)
        is spawned here.
        """
        kind = event.get("type", "")
        if kind == CONNECTED_EVENT:
            self._spawn(self._on_connected(), "reconcile")
            return
        if kind == DISCONNECTED_EVENT:
            self.connected.clear()  # owed captures wait for the reconcile
            return
        channel_id = (event.get("channel") or {}).get("id", "")
        self._answer_waiters(kind, event, channel_id)
        for call_id, happened in self.translator.feed(event):
            self._carry(call_id, happened, event, channel_id)
        if kind == "StasisStart":
            args = event.get("args") or []
            call_id = self.translator.call_of(channel_id) or ""
            if not args and self.translator.replacing(call_id):
                # A transfer inside Asterisk waits for its Bridge*Transfer
                # event; if none comes the translator completes it anyway.
                self._spawn(self._transfer_deadline(), "transfer deadline")
            elif args and args[0] == "inbound":
                self._spawn(self._inbound(event), "inbound call")
        elif kind == "ChannelVarset":
            # Persisted too: a transfer after an app restart still knows it.
            call = self.calls.get(self.translator.call_of(channel_id) or "")
            agent = call.channels.get("agent") if call is not None else None
            if event.get("variable") == CONTINUE_VAR and call is not None and agent == channel_id:
                call.continue_flag = str(event.get("value", ""))
                self._save(call)
        elif kind in ("BridgeBlindTransfer", "BridgeAttendedTransfer"):
            transferer = channel_id or (event.get("transferer_first_leg") or {}).get("id", "")
            log.info("%s by %s (%s)", kind, transferer, event.get("result", "?"))

    async def _transfer_deadline(self) -> None:
        """Let the translator complete a transfer whose Bridge*Transfer event never came."""
        await asyncio.sleep(TRANSFER_EVENT_WAIT + 0.1)
        for call_id, happened in self.translator.overdue(time.time()):
            self._carry(call_id, happened, {}, "")

    def _answer_waiters(self, kind: str, event: dict[str, Any], channel_id: str) -> None:
        """Events our own requests wait for (snoops, recordings, playbacks, hangups)."""
        if kind == "StasisStart":
            self.waiters.resolve("StasisStart", channel_id, event)
        elif kind in ("RecordingStarted", "RecordingFinished", "RecordingFailed"):
            name = event["recording"]["name"]
            self.waiters.resolve(kind, name, event)
            if kind == "RecordingFailed":
                self.waiters.resolve("RecordingFinished", name, event)
                log.error("recording %s failed: %s", name, event["recording"].get("cause"))
        elif kind == "PlaybackFinished":
            self.waiters.resolve("PlaybackFinished", event["playback"]["id"], event)
        elif kind in GONE:
            self.waiters.resolve("Gone", channel_id, event)

    def _carry(self, call_id: str, happened: Event, event: dict[str, Any], channel: str) -> None:
        """Carry out what the translator made of an event, in a task of the call."""
        call = self.calls.get(call_id)
        if call is None:
            return
        if isinstance(happened, PartyArrived) and event.get("type") == "StasisStart":
            self._spawn(self._party_arrived(call_id, happened.role, channel), "call party")
        elif isinstance(happened, TransferCompleted) and _role(event) == "transfer":
            # The agent an API transfer called answered.
            self._spawn(self._party_arrived(call_id, "transfer", channel), "call party")
        elif isinstance(happened, TransferCompleted):
            # A transfer done inside Asterisk, as the events tell it; the
            # transfer code may name the agent better (CALLREC_AGENT).
            native = self.translator.take_native(call_id)
            if native is not None:
                self._spawn(self._native_transfer(call_id, happened, native), "native transfer")
        elif isinstance(happened, HungUp):
            self._spawn(self._party_left(call_id, channel, happened.at), "hangup")
        elif isinstance(happened, TransferAbandoned):
            # The agent an API transfer called left before answering.
            self._spawn(self.transfer_failed(call, channel), "transfer failed")
        elif isinstance(happened, AgentToggle):
            log.debug("call %s: DTMF %s", call_id, happened.toggle)
            self._spawn(self._dtmf_action(call, happened.toggle), "DTMF action")
        # Capture events: the capture's own requests wait for them (waiters);
        # TransferStarted: the app's own API request, already fed to the machine.

    # ----------------------------------------------------------- call flows

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
            if value is not None and not safe_id(value):
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
        try:
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
        except (AriError, AriUnavailable) as exc:
            # Half a call is no call: hang up what was placed and forget it.
            log.warning("call %s: originate failed (%s); call dropped", call.call_id, exc)
            await self._end_call(call)
            raise CallPathUnavailable(f"Asterisk did not take the call: {exc}") from None
        return call

    async def _inbound(self, event: dict[str, Any]) -> None:
        """Dialplan: Stasis(app,inbound,QUEUE,AGENT[,CAMPAIGN]) on the caller's channel."""
        args = [*list(event.get("args") or []), "", "", ""]
        queue, agent, campaign = (a or None for a in args[1:4])
        channel = event["channel"]
        channel_id = channel["id"]
        if not agent or not safe_id(agent) or (queue and not safe_id(queue)):
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
            campaign=campaign if campaign and safe_id(campaign) else None,
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
            if role in call.in_bridge or call.ended:
                return  # seen twice: by its event and by a reconcile after a lost link
            try:
                await self._bridge_party(call, role, channel_id)
            except AriUnavailable as exc:
                # The link went mid-setup: the next reconcile bridges this party.
                log.error("call %s: %s not bridged (%s)", call_id, role, exc)
                if role in call.in_bridge and not call.segment:
                    call.in_bridge.remove(role)
                    call.bridged_at = 0.0
                self._save(call)

    async def _bridge_party(self, call: CallState, role: str, channel_id: str) -> None:
        """Put the party in the call's bridge; the last one lets the machine decide."""
        call_id = call.call_id
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
        if role not in call.in_bridge:
            call.in_bridge.append(role)
        arrived = PartyArrived("agent" if role == "agent" else "customer")
        if {"agent", "customer"} <= set(call.in_bridge) and not call.bridged_at:
            # The last party: the machine decides and, on autostart, the
            # capture runs (snoops and MixMonitor need no bridge) BEFORE the
            # parties can hear each other, so nothing said first is lost.
            call.bridged_at = time.time()
            self._save(call)
            try:
                await self._drive(call, arrived)
            finally:  # whatever the capture did, the parties are put together
                await self.client.add_channel(call.bridge_id, channel_id)
        else:
            await self.client.add_channel(call.bridge_id, channel_id)
            self._save(call)
            await self._drive(call, arrived)

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
        call.announcement = prompt
        self._save(call)


def _role(event: dict[str, Any]) -> str:
    """The role a party's Stasis arguments name (``call,<call id>,<role>``)."""
    args = event.get("args") or []
    return str(args[2]) if len(args) >= 3 and args[0] == "call" else ""
