"""Dialplan path: the call machine driven by the translator's events, its effects
carried out on Asterisk.

Whatever happens to a dialplan call (the answer hook's request, a DTMF
toggle, a console action or transfer, an AMI event) is first translated
(``agi_scripts.translate``, the same translator the replay tests feed
recorded streams) and then fed to the call's machine (``callcore.machine``)
under the call's lock; this part only carries out what the machine returns:
ask the policy and publish its outputs, start, stop or mute MixMonitor, hand
a segment to the finisher, end the call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from agi_scripts.agi import AgiChannel, AgiError
from agi_scripts.agi_segments import FROM_AGENT_VAR, AgiSegments
from callcore.ami import AmiError
from callcore.events import (
    CaptureFailed,
    CaptureStarted,
    CaptureStopped,
    Decide,
    DecideConsulted,
    Decided,
    DeliverSegment,
    Effect,
    EndCall,
    Event,
    MuteCapture,
    PlayRefusal,
    StartCapture,
    StopCapture,
)
from callcore.machine import CallMachine, consulting, resume
from callcore.state import CallState, Consultation
from policy import CallFacts, Decision, decide

log = logging.getLogger("callrec.agi")

Setter = Callable[[str, str], Awaitable[None]]


class AgiEffects(AgiSegments):
    async def _drive(
        self, call: CallState, events: list[Event], chan: AgiChannel | None
    ) -> str | None:
        """Feed the call's machine; carry out the effects. Returns a refusing rule.

        Call under the call's lock. ``chan`` is the AGI session the events
        came from, if any: what concerns its channel is done in it.
        """
        machine = self.machines.get(call.call_id)
        if machine is None:
            machine = self.machines[call.call_id] = CallMachine(resume(call))
        self._sync(call)
        refused = None
        queue = list(events)
        while queue:
            for effect in machine.feed(queue.pop(0)):
                if isinstance(effect, PlayRefusal):
                    refused = effect.rule
                queue.extend(await self._carry_out(call, effect, chan))
        call.consulting = consulting(machine.state)  # a restart resumes the consultation
        if not call.ended:
            self.store.save(call)
        return refused

    def _sync(self, call: CallState) -> None:
        """The call's roles as the translator knows them now (a transfer moves them)."""
        if call.call_id not in self.translator.calls:
            return
        agent, channel, customer, consult = self.translator.roles(call.call_id)
        if channel != call.agent_uniqueid:
            call.channels["agent"] = channel
            call.agent_uniqueid = channel
            call.agent_channel_name = self._names.get(channel, "")
        call.agent = agent
        if customer:
            call.channels["customer"] = customer
        if consult is None:
            call.consult = None
        elif call.consult is None or call.consult.uniqueid != consult[0]:
            call.consult = Consultation(
                consult[0], self._names.get(consult[0], ""), consult[1], False
            )

    async def _carry_out(
        self, call: CallState, effect: Effect, chan: AgiChannel | None
    ) -> list[Event]:
        agent_chan = chan if chan is not None and chan.uniqueid == call.agent_uniqueid else None
        if isinstance(effect, Decide):
            call.agent, call.phase = effect.agent, effect.phase
            call.decision = self._decide(
                call, effect.agent, effect.phase, effect.continue_recording
            )
            await self._publish_to(call, call.decision, agent_chan)
            log.info("call %s agent %s %s: legs=%s autostart=%s reasons=%s",
                     call.call_id, call.agent, call.phase, call.decision.legs,
                     call.decision.autostart, ",".join(call.decision.reasons))  # fmt: skip
            return [Decided(call.decision)]
        if isinstance(effect, DecideConsulted):
            await self._decide_consulted(call, effect, chan)
            return []
        if isinstance(effect, StartCapture):
            try:
                await self._start(call, agent_chan, effect.segment_no)
            except (AgiError, AmiError) as exc:
                log.error("call %s: MixMonitor did not start: %s", call.call_id, exc)
                return [CaptureFailed(effect.segment_no, str(exc))]
            self.translator.expect_capture(call.call_id, effect.segment_no, started=True)
            if agent_chan is None and call.segment is not None:  # else the request sets it
                try:
                    await self.ami.setvar(
                        call.agent_uniqueid, "CALLREC_RECORDING_ID", call.segment.recording_id
                    )
                except AmiError as exc:
                    log.warning("call %s: CALLREC_RECORDING_ID not set: %s", call.call_id, exc)
            return [CaptureStarted(effect.segment_no)]
        if isinstance(effect, StopCapture):
            # A channel that left (or a MixMonitor that stopped) closes its files
            # by itself; otherwise stop it. Either way the finisher waits for them.
            if call.segment is not None and not self.translator.capture_done(
                call.call_id, effect.segment_no
            ):
                on = self.translator.capture_channel(call.call_id, effect.segment_no)
                here = agent_chan if on in ("", call.agent_uniqueid) else None
                try:
                    await self._stop(call, here, on)
                except AgiError as exc:  # hung up meanwhile: the files close anyway
                    log.warning("call %s: StopMixMonitor: %s", call.call_id, exc)
                self.translator.stopped(call.call_id, effect.segment_no)
            return [CaptureStopped(effect.segment_no)]
        if isinstance(effect, MuteCapture):
            await self._mute(call, effect.muted)
        elif isinstance(effect, DeliverSegment):
            self._end_segment(call)
        elif isinstance(effect, EndCall):
            call.ended = True
        return []

    def _decide(
        self, call: CallState, agent: str, phase: str, continue_recording: bool
    ) -> Decision:
        facts = call.facts(continue_recording=continue_recording)
        facts["agent"] = agent
        facts["phase"] = phase
        return decide(self.policy(), CallFacts.from_dict(facts))

    async def _decide_consulted(
        self, call: CallState, effect: DecideConsulted, chan: AgiChannel | None
    ) -> None:
        """The consulted agent's provisional decision: kept, and its outputs published."""
        consult = call.consult
        if consult is None:  # left already
            return
        decision = self._decide(call, effect.agent, "post_transfer", effect.continue_recording)
        consult.continue_recording, consult.decision = effect.continue_recording, decision
        here = chan if chan is not None and chan.uniqueid == consult.uniqueid else None
        await self._publish_on(consult.uniqueid, call.call_id, decision, "post_transfer", here)

    async def _publish_to(
        self, call: CallState, decision: Decision, chan: AgiChannel | None
    ) -> None:
        """The decision's outputs on the agent's channel."""
        await self._publish_on(call.agent_uniqueid, call.call_id, decision, call.phase, chan)

    async def _publish_on(
        self, uniqueid: str, call_id: str, decision: Decision, phase: str, chan: AgiChannel | None
    ) -> None:
        """Outputs on an agent's channel: in its AGI session (``chan``), else by AMI."""
        if chan is not None:
            await self._publish(chan.set, call_id, decision, phase)
            await chan.set(f"__{FROM_AGENT_VAR}", uniqueid)
            return

        async def setvar(variable: str, value: str) -> None:
            await self.ami.setvar(uniqueid, variable, value)

        try:
            await self._publish(setvar, call_id, decision, phase)
            await setvar(f"__{FROM_AGENT_VAR}", uniqueid)
        except AmiError as exc:  # outputs only; the recording itself is not affected
            log.warning("call %s: decision outputs not set on %s: %s", call_id, uniqueid, exc)

    @staticmethod
    async def _publish(setter: Setter, call_id: str, decision: Decision, phase: str) -> None:
        """The decision's outputs on an agent's channel (AGI or AMI setter)."""
        # "__": inherited by a consultation call this agent makes (attended
        # transfer), which is how its answer is known to belong to this call.
        await setter("__CALLREC_CALL_ID", call_id)
        await setter("CALLREC_LEGS", decision.legs)
        await setter("CALLREC_AUTOSTART", "1" if decision.autostart else "0")
        await setter("CALLREC_MODE", decision.mode or "")
        await setter("CALLREC_REASONS", ",".join(decision.reasons))
        await setter("CALLREC_PHASE_DECIDED", phase)
