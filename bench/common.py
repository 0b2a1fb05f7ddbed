"""Pieces the call-path benchmarks share."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import wave
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.segment import FinishedSegment


class AnalysingSink:
    """Analyses each delivered track's timed tones, then removes the files:
    storage is not what the benches measure. ``analyse`` off: count only."""

    def __init__(self, analyse: bool = True) -> None:
        self.count = 0
        self.analyse = analyse
        self.tracks: dict[str, dict[str, Any]] = {}  # call id -> leg -> TrackLoss

    async def accept_segment(self, segment: FinishedSegment) -> str:
        self.count += 1
        for leg, path in segment.files.items():
            if leg in TONES and self.analyse:
                loss = await asyncio.to_thread(analyse_track, path, TONES[leg])
                self.tracks.setdefault(segment.call_id, {})[leg] = loss
        for path in segment.files.values():
            path.unlink(missing_ok=True)
        return segment.recording_id


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- audio that encodes time ----------------------------------------------------
#
# The timed simulated parties (dialplan/callrec-sim-timed.conf) each play a
# repeating sequence of PERIOD one-second tones from the moment they answer.
# A stretch of a track holding tone k is second k (mod PERIOD) of that party's
# audio, so comparing a track with the sequence shows what is missing.

PERIOD = 30
CUSTOMER_TONES = tuple(300 + 50 * k for k in range(PERIOD))  # 300-1750 Hz
AGENT_TONES = tuple(1800 + 50 * k for k in range(PERIOD))  # 1800-3250 Hz
TONES = {"agent": AGENT_TONES, "customer": CUSTOMER_TONES}
WINDOW = 0.02  # seconds per frequency estimate
MATCH_HZ = 20.0  # an estimate this close to a tone is that tone
SILENCE = 200  # peak below which a window holds no tone


def playtones(freqs: tuple[int, ...]) -> str:
    """The Playtones() argument for a sequence (one second per tone)."""
    return ",".join(f"{f}/1000" for f in freqs)


@dataclass
class Run:
    index: int  # which tone of the sequence
    start: float  # seconds into the file
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass
class TrackLoss:
    """Where a timed track lost audio. Seconds throughout; tone-time is the
    party's own clock: seconds since it answered, modulo PERIOD."""

    seconds: float  # audio in the file
    runs: list[Run]
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (file time, lost)
    untoned: float = 0.0  # seconds where no tone could be told (silence, noise)

    @property
    def gap_seconds(self) -> float:
        return sum(lost for _, lost in self.gaps)

    @property
    def start_tone(self) -> float | None:
        """Tone-time of the file's first sample (the first run ends on a tone boundary)."""
        if not self.runs:
            return None
        first = self.runs[0]
        if len(self.runs) == 1:
            return float(first.index)  # cannot tell the phase: assume it began on the boundary
        return (first.index + 1 - first.length) % PERIOD

    @property
    def end_tone(self) -> float | None:
        """Tone-time of the file's last sample (the last run starts on a tone boundary)."""
        if not self.runs:
            return None
        last = self.runs[-1]
        return (last.index + last.length) % PERIOD

    def head(self, expected_start: float) -> float:
        """Audio lost before the first sample, given the tone-time the capture should open at."""
        return _wrap((self.start_tone or 0.0) - expected_start)

    def tail(self, expected_end: float) -> float:
        return _wrap(expected_end - (self.end_tone or 0.0))

    def describe(self) -> str:
        gaps = ", ".join(f"{lost:.2f}s at {at:.2f}s" for at, lost in self.gaps) or "none"
        return f"{self.seconds:.2f}s of audio; gaps: {gaps}; untoned {self.untoned:.2f}s"


def _wrap(value: float) -> float:
    """Signed difference of two tone-times, taken the short way round the cycle."""
    return (value + PERIOD / 2) % PERIOD - PERIOD / 2


def _estimate(samples: array[int], rate: int) -> float | None:
    """Frequency of the one tone in ``samples`` from interpolated zero crossings."""
    if not samples or max(max(samples), -min(samples)) < SILENCE:
        return None
    crossings: list[float] = []
    prev = samples[0]
    for i in range(1, len(samples)):
        cur = samples[i]
        if (prev < 0) != (cur < 0):
            crossings.append(i - 1 + prev / (prev - cur) if prev != cur else float(i))
        prev = cur
    if len(crossings) < 3:
        return None
    return (len(crossings) - 1) * rate / (2.0 * (crossings[-1] - crossings[0]))


def analyse_track(path: Path, tones: tuple[int, ...]) -> TrackLoss:
    """Read a mono 16-bit WAV of one timed party and locate what is missing inside it.

    Consecutive windows holding the same tone form runs. A run shorter than a
    second between two others lost the difference; tones skipped between two
    runs are whole seconds lost. Loss before the first and after the last
    sample needs the tone-times the capture should have opened and closed at
    (:meth:`TrackLoss.head`, :meth:`TrackLoss.tail`).
    """
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels = wav.getframerate(), wav.getnchannels()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        # Not a playable WAV (no header yet, cut short): all of it is lost.
        print(f"unplayable track {path.name}: {exc}")
        return TrackLoss(0.0, [])
    samples = array("h", frames[: len(frames) // 2 * 2])
    if channels > 1:
        samples = samples[::channels]
    seconds = len(samples) / rate
    step = max(int(rate * WINDOW), 8)
    labels: list[int | None] = []
    for start in range(0, len(samples), step):
        freq = _estimate(samples[start : start + step], rate)
        index = None
        if freq is not None:
            best = min(range(len(tones)), key=lambda k: abs(tones[k] - freq))
            index = best if abs(tones[best] - freq) <= MATCH_HZ else None
        labels.append(index)
    runs: list[Run] = []
    untoned = 0.0
    for i, label in enumerate(labels):
        t0, t1 = i * WINDOW, min((i + 1) * WINDOW, seconds)
        if label is None:
            untoned += t1 - t0
            continue
        if runs and runs[-1].index == label and abs(runs[-1].end - t0) < 3 * WINDOW:
            runs[-1].end = t1
        else:
            runs.append(Run(label, t0, t1))
    runs = [r for r in runs if r.length >= 2 * WINDOW]  # drop boundary glitches
    # Untoned stretches between runs are audio (silence), not loss: they fill
    # the earlier tone up to its second first, the rest belongs to the next.
    for prev, run in itertools.pairwise(runs):
        between = run.start - prev.end
        fill = min(between, max(0.0, 1.0 - prev.length))
        prev.end += fill
        run.start -= between - fill
    loss = TrackLoss(seconds, runs, untoned=untoned)
    for i, run in enumerate(runs):
        if 0 < i < len(runs) - 1 and run.length < 1.0 - 2 * WINDOW:
            loss.gaps.append((run.start, 1.0 - run.length))
        if i > 0 and run.index != runs[i - 1].index:  # the same tone resumed: no skip
            skipped = (run.index - runs[i - 1].index - 1) % PERIOD
            if skipped:
                loss.gaps.append((run.start, float(skipped)))
    return loss


def ratio_summary(ratios: list[float], short_below: float = 0.98) -> str:
    """p1 and p50 of captured/expected per track, and how many tracks are short."""
    if not ratios:
        return "no tracks"
    short = sum(1 for r in ratios if r < short_below)
    return f"p1 {pct(ratios, 1):.3f}  p50 {pct(ratios, 50):.3f}  short {short}/{len(ratios)}"


# -- expected lengths from Asterisk's own record -----------------------------------


class CelTruth:
    """Asterisk's CEL events over AMI, folded into bridged spans (the bench's ground truth)."""

    def __init__(self, host: str, port: int, user: str, secret: str) -> None:
        from callcore.ami import Ami, AmiAddress
        from callcore.ground_truth import GroundTruth

        self.ami = Ami(AmiAddress(host, port, user, secret))
        self.truth = GroundTruth()
        self.tones_at: dict[str, float] = {}  # uniqueid of a ;2 half -> its tone-time zero

    async def start(self) -> None:
        self.ami.on("CEL", self._feed)
        self.ami.on("Hangup", self._feed)
        self.ami.on("UserEvent", self._tones)
        await self.ami.connect()

    def _tones(self, event: dict[str, str]) -> None:
        """A timed party's own note of when its tones began (the dialplan's UserEvent)."""
        if event.get("UserEvent") == "CallrecTones" and event.get("Uniqueid"):
            with contextlib.suppress(TypeError, ValueError):
                self.tones_at[event["Uniqueid"]] = float(event.get("At", ""))

    def _feed(self, event: dict[str, str]) -> None:
        self.truth.feed(event)

    async def close(self) -> None:
        await self.ami.close()

    def by_name(self, name: str) -> tuple[Any, str] | None:
        """The span holding channel ``name``, and that channel's uniqueid."""
        for span in self.truth.spans.values():
            for uniqueid, channel in span.channels.items():
                if channel == name:
                    return span, uniqueid
        return None

    def by_uniqueid(self, uniqueid: str) -> Any | None:
        for span in self.truth.spans.values():
            if uniqueid in span.channels:
                return span
        return None

    def party(self, call_id: str, prefix: str) -> str | None:
        """The bridged (;1) channel of a call whose name starts with ``prefix``."""
        for span in self.truth.spans.values():
            if span.call_id != call_id:
                continue
            for channel in span.channels.values():
                if channel.startswith(prefix) and channel.endswith(";1"):
                    return str(channel)
        return None

    def expectation(self, bridged_party: str) -> tuple[float, float, float] | None:
        """For the Local ;1 channel ``bridged_party`` that sat in the bridge: its bridged
        seconds, and the tone-times (of the party playing on its ;2 half) at which the
        capture should open and close."""
        found = self.by_name(bridged_party)
        half = self.by_name(bridged_party.replace(";1", ";2"))
        if found is None or half is None:
            return None
        span, _ = found
        half_span, half_id = half
        # Tone-time zero is when the party's tones began; its answer is
        # up to 0.5 s earlier (Answer() waits for media), which would read
        # as loss at the tail.
        answered = self.tones_at.get(half_id, half_span.answers.get(half_id))
        if answered is None or span.bridged_at is None or span.unbridged_at is None:
            return None
        return (
            span.bridged_seconds,
            span.bridged_at - answered,
            span.unbridged_at - answered,
        )


@dataclass
class TrackResult:
    path_kind: str  # "callrec" or "baseline"
    leg: str
    ratio: float  # captured / expected
    loss: TrackLoss
    head: float
    tail: float
    expected: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def describe(self) -> str:
        seconds, opens, closes = self.expected
        first = self.loss.runs[0] if self.loss.runs else None
        last = self.loss.runs[-1] if self.loss.runs else None
        return (
            f"{self.path_kind:>8} {self.leg:<8} ratio {self.ratio:.3f} bridged {seconds:.2f}s "
            f"tone-times {opens:.2f}..{closes:.2f}; file {self.loss.describe()}; "
            f"first {first}; last {last}; head {self.head:.2f} tail {self.tail:.2f}"
        )


def judge(
    kind: str, leg: str, loss: TrackLoss, expected: tuple[float, float, float] | None
) -> TrackResult | None:
    if expected is None or expected[0] <= 0:
        return None
    seconds, opens, closes = expected
    return TrackResult(
        kind, leg, loss.seconds / seconds, loss, loss.head(opens), loss.tail(closes), expected
    )


def loss_report(results: list[TrackResult], kind: str) -> str:
    mine = [r for r in results if r.path_kind == kind]
    if not mine:
        return f"{kind:>9}: no tracks judged"
    heads = sorted(r.head for r in mine)
    tails = sorted(r.tail for r in mine)
    gaps = sorted(r.loss.gap_seconds for r in mine)
    return (
        f"{kind:>9}: captured/expected {ratio_summary([r.ratio for r in mine])}; "
        f"missing p50/max: head {pct(heads, 50):.2f}/{heads[-1]:.2f}s "
        f"gaps {pct(gaps, 50):.2f}/{gaps[-1]:.2f}s tail {pct(tails, 50):.2f}/{tails[-1]:.2f}s"
    )


async def judge_mixmonitor(monitor_dir: Path, truth: CelTruth) -> list[TrackResult]:
    """The plain-dialplan baseline's MixMonitor files (callrec-bench-<uniqueid>-r/-t.wav),
    judged like callrec's tracks; the files are removed."""
    import asyncio

    results: list[TrackResult] = []
    for f in sorted(monitor_dir.glob("callrec-bench-*-r.wav")):
        uniqueid = f.name[len("callrec-bench-") : -len("-r.wav")]
        span = truth.by_uniqueid(uniqueid)
        if span is None:
            continue
        me = span.channels[uniqueid]  # the caller's ;1, where MixMonitor ran
        agent = next(
            (c for c in span.channels.values() if c.startswith("Local/agent-timed") and
             c.endswith(";1")),
            None,
        )  # fmt: skip
        pairs = [("customer", f, me), ("agent", f.with_name(f.name[:-6] + "-t.wav"), agent)]
        for leg, path, party in pairs:
            if party is None or not path.exists():
                continue
            tones = CUSTOMER_TONES if leg == "customer" else AGENT_TONES
            loss = await asyncio.to_thread(analyse_track, path, tones)
            expected = truth.expectation(me)  # MixMonitor runs for the caller's bridge
            own = truth.expectation(party)  # the tone-times are the speaking party's
            if expected and own:
                expected = (expected[0], own[1], own[2])
            judged = judge("baseline", leg, loss, expected)
            if judged:
                results.append(judged)
    for f in monitor_dir.glob("callrec-bench-*"):
        f.unlink(missing_ok=True)
    return results
