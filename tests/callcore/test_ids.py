"""The one id rule, true words and endpoint template both call paths use."""

from __future__ import annotations

import pytest

from callcore.ids import endpoint, is_true, safe_id


@pytest.mark.parametrize("value", ["1001", "a1", "agent_7", "x.y-z", "c0ffee" * 10])
def test_safe_ids(value: str) -> None:
    assert safe_id(value)


@pytest.mark.parametrize(
    "value", ["", None, "1001@evil", "sip:1001", "../x", "a/b", "a b", "x" * 65]
)
def test_unsafe_ids(value: str | None) -> None:
    assert not safe_id(value)


def test_true_words() -> None:
    assert all(is_true(w) for w in ("1", "true", "Yes", " on "))
    assert not any(is_true(w) for w in ("", "0", "no", "off", None, "y"))


def test_endpoint_fills_safe_values_and_refuses_others() -> None:
    assert endpoint("PJSIP/{agent}", agent="1001") == "PJSIP/1001"
    assert endpoint("PJSIP/{number}@trunk", number="15125550142") == "PJSIP/15125550142@trunk"
    with pytest.raises(ValueError, match="not safe"):
        endpoint("PJSIP/{agent}", agent="1001@other-host")
