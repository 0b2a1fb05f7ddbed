"""Our own OpenAPI description against the live app, by schemathesis.

Every generated request must get no 5xx, and every answer must match what the
description says (status documented, schema, content type, Allow on 405), and
input the description allows must not be refused as bad input. A user with
every permission drives it so the handlers (not only the permission check)
are reached. Examples per operation are bounded to keep the suite fast.
"""

from __future__ import annotations

import asyncio
import base64
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import positive_data_acceptance

from callcore.registry import CallRegistry
from callcore.state import CallState
from console.auth import AUTH, Throttle
from console.users import PERMISSIONS, UserStore, hash_password
from tests.console.story_data import example_policy
from tests.console.support import Env, FakeController, close_env, make_env

MAX_EXAMPLES = 15
SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
USER, PASSWORD = "everything", "everything-secret-pw"


class Originator:
    """Places calls as the Stasis path would answer: a bad agent or number is a
    ValueError with a code; a good one is a new call in the registry."""

    def __init__(self) -> None:
        self.registry: CallRegistry | None = None
        self.controller = FakeController()

    async def originate_call(
        self,
        *,
        agent: str,
        number: str,
        campaign: str | None = None,
        lead_list: str | None = None,
        prospect_state: str | None = None,
    ) -> CallState:
        if not SAFE_ID.fullmatch(agent):
            raise _coded("agent.invalid", "agent ids are 1-64 letters, digits, '-', '_', '.'")
        if not number.strip():
            raise _coded("number.invalid", "a customer number is required")
        assert self.registry is not None
        call = CallState(uuid.uuid4().hex, "ari", "outbound", agent, campaign=campaign)
        self.registry.register(call, self.controller)
        return call


def _coded(code: str, message: str) -> ValueError:
    exc = ValueError(message)
    exc.code = code  # type: ignore[attr-defined]
    return exc


@pytest.fixture
async def full_env(tmp_path: Path) -> AsyncIterator[Env]:
    store = UserStore.from_dict(
        {
            "roles": {"all": {"permissions": sorted(PERMISSIONS)}},
            "users": {USER: {"password_hash": hash_password(PASSWORD), "roles": ["all"]}},
        }
    )
    originator = Originator()
    env = await make_env(tmp_path, user_store=store, originator=originator, policy=example_policy())
    originator.registry = env.registry
    # The ignored-auth check sends wrong passwords for our user on purpose; the
    # login throttle (tested in test_throttle.py) would then lock the user out.
    env.client.app[AUTH].throttle = Throttle(free=10**9)
    try:
        yield env
    finally:
        await close_env(env)


def _headers() -> dict[str, str]:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return {"Authorization": "Basic " + token}


def _check(
    op: Any,
    raw: dict[str, Any],
    base_url: str,
    session: requests.Session,
    seen: list[tuple[str, int]],
) -> str:
    """Run one operation for a bounded number of examples; its failure in words, or ''.
    Every answer's (operation, status) goes to ``seen``."""
    public = raw.get("security") == []
    # Input the schema cannot rule out (a number that is no phone number, a form
    # token that must match its cookie) is rightly refused with a 400.
    excluded = [positive_data_acceptance] if "x-semantic-400" in raw else []

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=op.as_strategy())
    def check(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            base_url=base_url,
            session=session,
            headers={} if public else _headers(),
            excluded_checks=excluded,
        )
        seen.append((op.label, response.status_code))

    try:
        check()
    except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure
        return f"{op.label}: {str(exc)[:1500]}"
    return ""


def _with_examples(doc: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """Ids that exist, as explicit examples of the path parameters, so success
    answers (not only 404s) are checked against their schemas too."""
    for ops in doc["paths"].values():
        for op in ops.values():
            for param in op.get("parameters", []):
                if param["in"] == "path" and param["name"] in ids:
                    param["example"] = ids[param["name"]]
    return doc


def _run(doc: dict[str, Any], base_url: str, seen: list[tuple[str, int]]) -> list[str]:
    """Every operation but the websocket (its own tests cover it); the failures."""
    schema = schemathesis.openapi.from_dict(doc)
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    failures = [
        _check(op, doc["paths"][op.path][op.method.lower()], base_url, session, seen)
        for op in operations
        if op.path != "/api/events"
    ]
    return [f for f in failures if f]


async def test_api_conforms_to_its_openapi_description(full_env: Env) -> None:
    status, doc = await full_env.call("GET", "/api/openapi.json", None, headers=_headers())
    assert status == 200
    base_url = str(full_env.client.make_url("")).rstrip("/")
    ids = {
        "recording_id": full_env.ids["assigned"],
        "call_id": "call-1",
        "record_id": full_env.ids["record"],
    }
    seen: list[tuple[str, int]] = []
    failures = await asyncio.to_thread(_run, _with_examples(doc, ids), base_url, seen)
    assert not failures, "\n\n".join(failures)
    # Success answers were reached (and so checked against their schemas).
    ok = {label for label, status in seen if status < 300}
    for label in (
        "GET /api/recordings/{recording_id}",
        "GET /api/recordings/{recording_id}/story",
        "GET /api/calls/{call_id}",
        "GET /api/records/{record_id}",
        "GET /api/what-if",
        "GET /api/alerts",
        "GET /api/recordings",
    ):
        assert label in ok, (label, sorted({(lb, st) for lb, st in seen if lb == label}))


async def test_405_says_what_is_allowed(full_env: Env) -> None:
    async with full_env.client.request(
        "PUT",
        "/api/rematch",
        headers={**_headers(), "Content-Type": "application/json"},
        data="{}",
    ) as resp:
        assert resp.status == 405
        assert set(resp.headers["Allow"].split(",")) == {"POST"}
        assert (await resp.json())["error"]["code"] == "route.method_not_allowed"


async def test_description_carries_the_limits_the_code_enforces(full_env: Env) -> None:
    status, doc = await full_env.call("GET", "/api/openapi.json", None, headers=_headers())
    assert status == 200
    rid = doc["paths"]["/api/recordings/{recording_id}"]["get"]["parameters"][0]["schema"]
    assert rid["pattern"] == "^[A-Za-z0-9_-]{1,64}$" and rid["maxLength"] == 64
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/unassigned"]["get"]["parameters"]}
    assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, 500)
    rematch = doc["paths"]["/api/rematch"]["post"]
    assert rematch["requestBody"]["required"] is True
    assert {"401", "403", "415", "429"} <= set(rematch["responses"])
