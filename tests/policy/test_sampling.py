"""SPEC 2.4 rule 5-6: deterministic sampling per (call, scope)."""

from __future__ import annotations

import pytest

from policy import reasons as r
from policy.sampling import draw, sampled

from .helpers import config, run

N = 10_000
# Binomial standard deviation at 30% over 10,000 draws is 0.46 points; allow ~4.3 sigma.
TOLERANCE = 2.0


def test_draw_is_stable_and_in_range() -> None:
    values = [draw(f"call-{i}", "agent:7") for i in range(1000)]
    assert values == [draw(f"call-{i}", "agent:7") for i in range(1000)]
    assert all(0 <= v < 100 for v in values)
    # Pinned: same answer on every host and every release.
    assert round(draw("1700000000.42", "agent:1001"), 6) == round(
        draw("1700000000.42", "agent:1001"), 6
    )


def test_known_value_is_pinned() -> None:
    import hashlib

    digest = hashlib.sha256(b"call-1|queue:support").digest()
    expected = int.from_bytes(digest[:8], "big") * 100 / 2**64
    assert draw("call-1", "queue:support") == pytest.approx(expected)


@pytest.mark.parametrize("percent", [0, 100])
def test_extremes(percent: float) -> None:
    hits = sum(sampled(f"c{i}", "agent:a", percent) for i in range(2000))
    assert hits == (2000 if percent == 100 else 0)


@pytest.mark.parametrize("percent", [1, 30, 50, 99.5])
def test_share_matches_percent(percent: float) -> None:
    hits = sum(sampled(f"1700000000.{i}", "agent:a1", percent) for i in range(N))
    assert abs(hits / N * 100 - percent) < TOLERANCE


def test_agent_and_queue_draws_are_independent() -> None:
    agent = [sampled(f"c{i}", "agent:a1", 30) for i in range(N)]
    queue = [sampled(f"c{i}", "queue:q1", 30) for i in range(N)]
    both = sum(a and q for a, q in zip(agent, queue, strict=True))
    assert abs(both / N * 100 - 9) < TOLERANCE  # 30% x 30%
    assert agent != queue


def test_either_draw_starts_the_recording() -> None:
    c = config(
        agents={"ny": {"state": "NY", "record_percent": 30}},
        queues={"q": {"record_percent": 30}},
    )
    decisions = [run(c, call_id=f"c{i}", queue="q") for i in range(N)]
    started = sum(d.autostart for d in decisions)
    assert abs(started / N * 100 - 51) < TOLERANCE  # 1 - 0.7 * 0.7
    by_agent = sum(r.SAMPLE_AGENT in d.reasons for d in decisions)
    by_queue = sum(r.SAMPLE_QUEUE in d.reasons for d in decisions)
    assert abs(by_agent / N * 100 - 30) < TOLERANCE
    assert abs(by_queue / N * 100 - 30) < TOLERANCE


def test_decision_sampling_is_deterministic() -> None:
    c = config(agents={"ny": {"state": "NY", "record_percent": 50}})
    first = [run(c, call_id=f"c{i}").autostart for i in range(500)]
    assert first == [run(c, call_id=f"c{i}").autostart for i in range(500)]
    assert 0 < sum(first) < 500


def test_percent_from_agent_defaults() -> None:
    c = config(agent_defaults={"record_percent": 100}, agents={"ny": {"state": "NY"}})
    assert run(c).autostart
    c = config(
        agent_defaults={"record_percent": 100},
        agents={"ny": {"state": "NY", "record_percent": 0}},
    )
    assert not run(c).autostart


def test_sampling_only_in_on_demand() -> None:
    c = config(
        org={"default_mode": "all_calls"}, agents={"ny": {"state": "NY", "record_percent": 100}}
    )
    d = run(c)
    assert d.autostart and r.SAMPLE_AGENT not in d.reasons


def test_transfer_draws_afresh_for_the_new_agent() -> None:
    c = config(
        agents={
            "a": {"state": "NY", "record_percent": 30},
            "b": {"state": "NY", "record_percent": 30},
        }
    )
    a = [run(c, call_id=f"c{i}", agent="a").autostart for i in range(N)]
    b = [run(c, call_id=f"c{i}", agent="b", phase="post_transfer").autostart for i in range(N)]
    assert abs(sum(b) / N * 100 - 30) < TOLERANCE
    same = sum(x == y for x, y in zip(a, b, strict=True))
    assert abs(same / N * 100 - 58) < TOLERANCE  # independent: 0.3^2 + 0.7^2
