"""Pieces the call-path benchmarks share."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
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
            discard(path)
        return segment.recording_id


def discard(path: Path) -> None:
    """Remove a judged file, or move it into $CALLREC_BENCH_KEEP (a directory) to be
    looked at afterwards (the analysis names each track's file in ``--detail``)."""
    keep = os.environ.get("CALLREC_BENCH_KEEP")
    if keep and path.exists():
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), Path(keep) / path.name)
    else:
        path.unlink(missing_ok=True)


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
    """One tone of the sequence as the file holds it: ``index`` is the tone's place
    in the party's speech, the first tone's place in the sequence counted on
    from there without wrapping at PERIOD; ``seconds`` is how much of it the
    file holds, silence inside not counted (so it can be less than end - start)."""

    index: int
    start: float  # seconds into the file
    end: float
    seconds: float = -1.0  # toned seconds; -1: end - start

    def __post_init__(self) -> None:
        if self.seconds < 0:
            self.seconds = self.end - self.start

    @property
    def length(self) -> float:
        return self.seconds


@dataclass
class TrackLoss:
    """What a timed track holds of its party's speech. Seconds throughout;
    tone-time is the party's own clock: seconds since its tones began, modulo PERIOD.

    ``gaps`` are stretches of the party's speech the file lacks between its first
    and last tone (whether cut out or overwritten); ``silences`` are stretches of
    the file holding no tone (the party's own pauses, or what overwrote its
    speech); ``duplicated`` is speech the file holds more than once. ``intact``
    is the speech the file holds once and in order: the figure to judge by, as a
    file can be full length and still miss speech.
    """

    seconds: float  # audio in the file
    runs: list[Run]
    gaps: list[tuple[float, float]] = field(default_factory=list)  # (file time, lost)
    untoned: float = 0.0  # seconds where no tone could be told (silence, noise)
    name: str = ""  # the file's name
    silences: list[tuple[float, float]] = field(default_factory=list)  # (file time, length)
    duplicated: float = 0.0
    intact: float = 0.0

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
            return float(first.index % PERIOD)  # cannot tell the phase: assume the boundary
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
        quiet = ", ".join(f"{n:.2f}s at {at:.2f}s" for at, n in self.silences) or "none"
        return (
            f"{self.seconds:.2f}s of audio, {self.intact:.2f}s intact; gaps: {gaps}; "
            f"silences: {quiet}; duplicated {self.duplicated:.2f}s; untoned {self.untoned:.2f}s"
        )


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


BOUNDARY = 3 * WINDOW  # untoned time between two successive tones that is their change
TOLERANCE = 2 * WINDOW  # less than this missing from a tone is the windows' grain


def _labels(samples: array[int], rate: int, tones: tuple[int, ...]) -> list[int | None]:
    """The tone (its place in ``tones``) each WINDOW of the file holds, None for none."""
    step = max(int(rate * WINDOW), 8)
    labels: list[int | None] = []
    for start in range(0, len(samples), step):
        freq = _estimate(samples[start : start + step], rate)
        index = None
        if freq is not None:
            best = min(range(len(tones)), key=lambda k: abs(tones[k] - freq))
            index = best if abs(tones[best] - freq) <= MATCH_HZ else None
        labels.append(index)
    return labels


def analyse_track(path: Path, tones: tuple[int, ...]) -> TrackLoss:
    """Read a mono 16-bit WAV of one timed party and find what of its speech is
    missing, duplicated or stood for by silence.

    Windows holding the same tone form stretches; each stretch gets the tone's
    place in the party's speech, counted on from the previous one the short way
    round the cycle (a step back is speech heard again). Every tone between the
    file's first and last should be there for one second in all: less is a gap,
    more is duplicated, and a stretch with no tone is a silence. Loss before the
    first and after the last sample needs the tone-times the capture should
    have opened and closed at (:meth:`TrackLoss.head`, :meth:`TrackLoss.tail`).
    """
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels = wav.getframerate(), wav.getnchannels()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError) as exc:
        # Not a playable WAV (no header yet, cut short): all of it is lost.
        print(f"unplayable track {path.name}: {exc}")
        return TrackLoss(0.0, [], name=path.name)
    samples = array("h", frames[: len(frames) // 2 * 2])
    if channels > 1:
        samples = samples[::channels]
    seconds = len(samples) / rate
    stretches: list[Run] = []  # index: the tone's place in ``tones`` for now
    for i, label in enumerate(_labels(samples, rate, tones)):
        t0, t1 = i * WINDOW, min((i + 1) * WINDOW, seconds)
        if label is None:
            continue
        if stretches and stretches[-1].index == label and stretches[-1].end >= t0 - 1e-9:
            stretches[-1].end = t1
            stretches[-1].seconds = t1 - stretches[-1].start
        else:
            stretches.append(Run(label, t0, t1))
    stretches = [s for s in stretches if s.length >= 2 * WINDOW]  # boundary glitches
    loss = TrackLoss(seconds, [], name=path.name)
    if not stretches:
        loss.untoned = seconds
        if seconds:
            loss.silences.append((0.0, seconds))
        return loss
    # Unwrap: each stretch's place in the speech, counted on from the first one's tone.
    place, previous = stretches[0].index, stretches[0].index
    for cur in stretches:
        place += (cur.index - previous + PERIOD // 2) % PERIOD - PERIOD // 2
        previous, cur.index = cur.index, place
    # What lies between stretches: a tone change, or a silence.
    if stretches[0].start > 0:
        loss.silences.append((0.0, stretches[0].start))
    for prev, cur in itertools.pairwise(stretches):
        between = cur.start - prev.end
        if cur.index == prev.index + 1 and between <= BOUNDARY:
            prev.seconds += between / 2  # the change: half each
            cur.seconds += between / 2
        elif between > 1e-9:
            loss.silences.append((prev.end, between))
    if seconds - stretches[-1].end > 1e-9:
        loss.silences.append((stretches[-1].end, seconds - stretches[-1].end))
    loss.untoned = sum(n for _, n in loss.silences)
    # One run per tone the file holds in a row (a silence inside a tone does not split it).
    runs: list[Run] = []
    for s in stretches:
        if runs and runs[-1].index == s.index:
            runs[-1].end = s.end
            runs[-1].seconds += s.seconds
        else:
            runs.append(Run(s.index, s.start, s.end, s.seconds))
    loss.runs = runs
    held: dict[int, float] = {}  # place -> seconds of it in the file
    where: dict[int, float] = {}  # place -> file time it first appears
    for run in runs:
        held[run.index] = held.get(run.index, 0.0) + run.seconds
        where.setdefault(run.index, run.start)
    first, last = runs[0].index, runs[-1].index
    loss.duplicated = sum(n - 1.0 for n in held.values() if n - 1.0 > TOLERANCE)
    loss.intact = sum(min(1.0, n) for n in held.values())
    # Gaps: what each tone strictly between the first and the last lacks of its second.
    pending: tuple[float, float] | None = None  # a gap being extended over successive tones
    next_at = runs[-1].start
    for place in range(last - 1, first, -1):  # backwards, so an absent tone knows what follows
        at = where.get(place, next_at)
        next_at = at
        lost = max(0.0, 1.0 - held.get(place, 0.0))
        if lost <= TOLERANCE + 1e-6:  # the windows' grain (a 20 ms frame split over two)
            if pending:
                loss.gaps.append(pending)
            pending = None
            continue
        pending = (at, lost + (pending[1] if pending else 0.0))
    if pending:
        loss.gaps.append(pending)
    loss.gaps.reverse()
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
        from agi_scripts.ami import Ami, AmiAddress
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
    ratio: float  # the file's length / expected
    loss: TrackLoss
    head: float
    tail: float
    expected: tuple[float, float, float] = (0.0, 0.0, 0.0)
    intact: float = 0.0  # the speech the file holds once and in order / expected

    @property
    def strict(self) -> float:
        """The figure a track is judged by: a full-length file can still miss speech."""
        return min(self.ratio, self.intact)

    def describe(self) -> str:
        seconds, opens, closes = self.expected
        first = self.loss.runs[0] if self.loss.runs else None
        last = self.loss.runs[-1] if self.loss.runs else None
        return (
            f"{self.path_kind:>8} {self.leg:<8} ratio {self.ratio:.3f} intact {self.intact:.3f} "
            f"bridged {seconds:.2f}s tone-times {opens:.2f}..{closes:.2f}; "
            f"file {self.loss.describe()}; first {first}; last {last}; "
            f"head {self.head:.2f} tail {self.tail:.2f} [{self.loss.name}]"
        )


def judge(
    kind: str, leg: str, loss: TrackLoss, expected: tuple[float, float, float] | None
) -> TrackResult | None:
    if expected is None or expected[0] <= 0:
        return None
    seconds, opens, closes = expected
    return TrackResult(
        kind,
        leg,
        loss.seconds / seconds,
        loss,
        loss.head(opens),
        loss.tail(closes),
        expected,
        intact=loss.intact / seconds,
    )


def loss_report(results: list[TrackResult], kind: str) -> str:
    """One path's tracks: the length ratio, the intact ratio, and the stricter of the
    two per track (what p1/p50/short judge by); then where the missing speech is."""
    mine = [r for r in results if r.path_kind == kind]
    if not mine:
        return f"{kind:>9}: no tracks judged"

    def most(values: list[float]) -> str:
        return f"{pct(values, 50):.2f}/{max(values):.2f}s"

    return (
        f"{kind:>9}: judged by the stricter of length and intact per track: "
        f"{ratio_summary([r.strict for r in mine])}\n"
        f"{'':>11}length {ratio_summary([r.ratio for r in mine])}; "
        f"intact {ratio_summary([r.intact for r in mine])}\n"
        f"{'':>11}missing p50/max: head {most([r.head for r in mine])} "
        f"gaps {most([r.loss.gap_seconds for r in mine])} tail {most([r.tail for r in mine])}; "
        f"silences {most([r.loss.untoned for r in mine])} "
        f"duplicated {most([r.loss.duplicated for r in mine])}; "
        f"tracks with gaps {sum(1 for r in mine if r.loss.gaps)}/{len(mine)}"
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
        discard(f)
    return results
