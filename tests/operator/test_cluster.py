"""Calls in progress shared between nodes through the database (SQLite here;
PostgreSQL in test_two_nodes): listed by the other node, owner named, a
stopped node's rows ignored once stale."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from callcore.registry import CallNotFound, CallOnOtherNode, CallRegistry
from callcore.state import CallState
from callrec.cluster import Cluster
from storage import live_calls
from storage.db import Database, open_database
from storage.models import LiveCall
from storage.timeutil import utcnow


class NoController:
    async def perform(self, call: CallState, action: str) -> None:
        raise AssertionError("not used")

    async def transfer(self, call: CallState, agent: str, continue_recording: bool) -> None:
        raise AssertionError("not used")


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    yield database
    database.dispose()


def node(db: Database, name: str) -> Cluster:
    registry = CallRegistry()
    cluster = Cluster(db, registry, name)
    cluster.node_url = f"http://{name}.example:8080"
    registry.cluster = cluster
    return cluster


def test_the_other_node_lists_the_call_and_names_its_owner(db: Database) -> None:
    a, b = node(db, "a"), node(db, "b")
    call = CallState(call_id="c" * 32, source="ari", direction="outbound", agent="a1")
    a.registry.register(call, NoController())
    a.sync()
    b.sync()
    [remote] = b.registry.remote()
    assert remote["call_id"] == "c" * 32 and remote["agent"] == "a1"
    assert (remote["node"], remote["node_url"]) == ("a", "http://a.example:8080")
    with pytest.raises(CallOnOtherNode) as info:
        b.registry.get("c" * 32)
    assert info.value.code == "call.other_node" and info.value.url == "http://a.example:8080"
    assert a.registry.get("c" * 32) is call and a.registry.remote() == []
    with pytest.raises(CallNotFound) as missing:
        b.registry.get("d" * 32)
    assert missing.value.code == "call.not_found"

    a.registry.unregister("c" * 32)  # the call ended: gone from the other node's view
    a.sync()
    b.sync()
    assert b.registry.remote() == []
    a.sync()  # idle: nothing more is written
    b.sync()
    assert b.registry.remote() == []


def test_a_stopped_node_is_ignored_once_its_rows_are_stale(db: Database) -> None:
    a, b = node(db, "a"), node(db, "b")
    a.registry.register(
        CallState(call_id="e" * 32, source="agi", direction="inbound", agent="a2"), NoController()
    )
    a.sync()
    with db.session() as s:
        old = utcnow() - timedelta(seconds=live_calls.STALE_SECONDS + 1)
        s.execute(update(LiveCall).values(updated_at=old))
    b.sync()
    assert b.registry.remote() == []
    with pytest.raises(CallNotFound) as info:
        b.registry.get("e" * 32)
    assert type(info.value) is CallNotFound  # no owner named for a stopped node
