"""The call machine's effects carried out on ARI, agent actions and hangups.

Every event a call's machine gets is fed under the call's lock and its
effects are carried out to the end there (ask the policy, start, stop or
mute the captures, deliver a segment), so the machine only ever rests
in a state the persisted call can be rebuilt into (``callcore.machine.resume``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from ari_app.client import AriError, AriUnavailable
from ari_app.core import REFUSAL_TONE, StasisCore
from ari_app.recapture import (
    clear_pending,
    drop_pending,
    for_segment,
    mark_pending,
    pending_since,
)
from callcore.actions import ActionRefused
from callcore.ami import AmiError
from callcore.events import (
    AgentAction,
    AgentToggle,
    CaptureFailed,
    CaptureStarted,
    CaptureStopped,
    Decide,
    Decided,
    DeliverSegment,
    Effect,
    Event,
    HungUp,
    MuteCapture,
    PlayRefusal,
    StartCapture,
    StopCapture,
)
from callcore.state import CallState
from policy import CallFacts, decide

log = logging.getLogger("callrec.ari")

# What a capture backend raises when Asterisk refused or the link is gone.
CAPTURE_ERRORS = (AriError, AriUnavailable, AmiError, TimeoutError)


class CallEffects(StasisCore):
    # ------------------------------------------- the machine and its effects

    async def _drive(self, call: CallState, event: Event) -> list[str]:
        """Feed the call's machine and carry out every effect, to a resting state.

        Runs under the call's lock, so the machine never rests half-way
        through starting or stopping a capture. Returns the rules of any
        refusal (the caller answers them: a 409 or the refusal tone).
        """
        machine = self.machines.get(call.call_id)
        if machine is None:
            return []
        queue, refusals = [event], []
        while queue:
            for effect in machine.feed(queue.pop(0)):
                if isinstance(effect, PlayRefusal):
                    refusals.append(effect.rule)
                    call.refusals.append(effect.rule)
                    self._save(call)
                else:
                    queue.extend(await self._carry_out(call, effect))
        return refusals

    async def _carry_out(self, call: CallState, effect: Effect) -> list[Event]:
        if isinstance(effect, Decide):
            return [self._decide(call, effect)]
        if isinstance(effect, StartCapture):
            return [await self._start_segment(call, effect.segment_no)]
        if isinstance(effect, StopCapture):
            if call.segment is not None:
                await self.capturer.stop(call.segment, effect.at)  # never raises
                self._save(call)
            return [CaptureStopped(effect.segment_no)]
        if isinstance(effect, MuteCapture):
            await self._mute(call, effect.muted)
        elif isinstance(effect, DeliverSegment):
            await self._deliver(call)
        return []  # PlayPrompt: the announcement runs before bridging; EndCall: _end_call

    def _decide(self, call: CallState, effect: Decide) -> Decided:
        call.agent, call.phase = effect.agent, effect.phase
        facts = CallFacts.from_dict(call.facts(continue_recording=effect.continue_recording))
        decision = decide(self.config(), facts)
        call.decision = decision
        drop_pending(call)  # a new decision (a transfer's) owes what it says, not the old
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
        return Decided(decision)

    async def _start_segment(self, call: CallState, segment_no: int) -> Event:
        call.segments = segment_no
        try:
            seg = await self.capturer.start(call, segment_no)
        except CAPTURE_ERRORS as exc:
            log.error("call %s: capture did not start: %s", call.call_id, exc)
            if not call.ended:  # started again once the link is back (recapture)
                since = call.segment.started_at if call.segment else time.time()
                mark_pending(call, since)
                self._save(call)
                self._spawn(self._recapture(call.call_id), "recapture")
            return CaptureFailed(segment_no, str(exc))
        late = clear_pending(call, seg)
        if late is not None:
            log.warning(
                "call %s: segment %d started %.1fs late; flagged", call.call_id, segment_no, late
            )
        self._save(call)
        log.info(
            "call %s: segment %d recording %s (%s)",
            call.call_id,
            seg.segment_no,
            seg.recording_id,
            seg.legs,
        )
        return CaptureStarted(segment_no)

    async def _mute(self, call: CallState, muted: bool) -> None:
        seg = call.segment
        if seg is None:
            return
        try:
            await self.capturer.set_muted(seg, muted)
        except CAPTURE_ERRORS as exc:
            log.error("call %s: %s failed: %s", call.call_id, "mute" if muted else "unmute", exc)
        now = time.time()
        if muted:
            seg.open_pause(now)
        else:
            seg.close_pause(now)
        self._save(call)
        log.info("call %s: %s at %.3f", call.call_id, "pause" if muted else "resume", now)

    async def _deliver(self, call: CallState) -> None:
        """Persist the call without its stopped segment, then hand the segment to storage."""
        seg, call.segment = call.segment, None
        if seg is None:
            return
        self._save(call)
        if not any(cap.started_at for cap in seg.captures.values()):
            log.warning(
                "call %s: segment %d never started capturing; nothing to keep%s",
                call.call_id,
                seg.segment_no,
                " (started again when the link is back)" if pending_since(call) else "",
            )
            return
        # Journalled first, so it can run outside the call's lock and off the
        # event loop: the next event of the call need not wait for storage.
        task = asyncio.create_task(self.handoff.deliver(for_segment(call, seg), seg))
        self._delivering.add(task)
        task.add_done_callback(self._delivering.discard)

    async def _stop_segment(self, call: CallState, at: float | None = None) -> None:
        """Stop and deliver whatever segment the call holds (the safety net)."""
        if call.segment is not None:
            await self.capturer.stop(call.segment, at)
            await self._deliver(call)

    # CallController protocol (used by the HTTP API through the registry).
    async def perform(self, call: CallState, action: str) -> None:
        async with self._lock(call.call_id):
            refused = await self._drive(call, AgentAction(action))  # type: ignore[arg-type]
        if refused:
            raise ActionRefused(action, refused[0])

    # ----------------------------------------------------------------- DTMF

    async def _dtmf_action(self, call: CallState, toggle: str) -> None:
        async with self._lock(call.call_id):
            if call.ended:
                return
            refused = await self._drive(call, AgentToggle(toggle))  # type: ignore[arg-type]
        self.registry.changed(call)
        if refused:
            log.info("call %s: DTMF %s refused (%s)", call.call_id, toggle, refused[0])
            await self._refusal_tone(call)
        else:
            log.info("call %s: DTMF %s by agent %s", call.call_id, toggle, call.agent)

    async def _refusal_tone(self, call: CallState) -> None:
        playback_id = f"{call.call_id}-refuse-{uuid.uuid4().hex[:6]}"
        try:
            await self.client.play(call.channels["agent"], REFUSAL_TONE, playback_id=playback_id)
            await asyncio.sleep(0.6)
            await self.client.stop_playback(playback_id)
        except AriError:
            pass

    # --------------------------------------------------------------- hangup

    async def _party_left(self, call_id: str, channel_id: str, at: float | None) -> None:
        call = self.calls.get(call_id)
        if call is None or call.ended:
            return
        if channel_id in call.previous_agents:
            return  # the transferred-away agent leaving is expected
        if call.transfer is not None and call.transfer.channel == channel_id:
            await self.transfer_failed(call, channel_id)  # B did not answer: A keeps the call
            return
        await self._end_call(call, at)

    async def transfer_failed(self, call: CallState, channel_id: str) -> None:
        raise NotImplementedError  # ari_app.transfers

    async def _recapture(self, call_id: str) -> None:
        raise NotImplementedError  # ari_app.reconcile

    async def _end_call(self, call: CallState, at: float | None = None) -> None:
        """End a call: deliver its segment first, then tear down what is left.

        No error of the teardown (Asterisk refusing a stop, a channel already
        gone, the link down) may keep the recording from storage or leave the
        call listed: each step is guarded on its own.
        """
        async with self._lock(call.call_id):
            if call.ended:
                return
            call.ended = True
            try:
                await self._drive(call, HungUp("customer", at))
                if call.segment is not None:  # whatever the machine said: deliver it
                    await self._stop_segment(call, at)
            except Exception:
                log.exception("call %s: finishing its segment failed", call.call_id)
            finally:
                await self._teardown(call)

    async def _teardown(self, call: CallState) -> None:
        # The translator's parties too: a party Asterisk put in our bridge by
        # a transfer not yet carried out would otherwise stay in Stasis.
        parties = [*call.channels.values(), *self.translator.parties_of(call.call_id)]
        for channel_id in dict.fromkeys(parties):
            with contextlib.suppress(AriError, AriUnavailable):
                await self.client.hangup(channel_id)
        if call.bridge_id:
            with contextlib.suppress(AriError, AriUnavailable):
                await self.client.destroy_bridge(call.bridge_id)
        self.store.delete(call.call_id)
        self.registry.unregister(call.call_id)
        self.calls.pop(call.call_id, None)
        self.translator.forget(call.call_id)
        self.machines.pop(call.call_id, None)
        self._locks.pop(call.call_id, None)
        log.info("call %s ended after %d segment(s)", call.call_id, call.segments)
