"""A call Asterisk will not place is a 503 with a stable code, and leaves nothing behind.

The agent's leg is placed, the customer's is refused by Asterisk (an unknown
channel technology): the half-placed call is hung up and forgotten, not a 500
with a ringing agent and a call listed for ever.
"""

from __future__ import annotations

import pytest

from tests.ari.harness import Stack

pytestmark = pytest.mark.asterisk


async def test_refused_originate_is_a_503_and_drops_the_half_call(stack: Stack) -> None:
    assert stack.app is not None
    stack.app.customer_endpoint = lambda number: "Nosuchtech/nowhere"
    status, body = await stack.api(
        "POST", "/api/calls", {"agent": "a1", "number": "+15125550142", "campaign": "auto"}
    )
    assert status == 503, body
    assert body["error"]["code"] == "calls.asterisk_unavailable"
    assert stack.registry.all() == [] and stack.app.calls == {}
    # The agent's leg it did place is hung up: the no_leaks fixture fails the
    # test if any channel or bridge is left in Asterisk.
