"""Install on an existing Asterisk: a second sandbox configured only from the
printed snippets runs recorded calls on both call paths with `doctor` green,
and each planted mistake (missing include, wrong AMI classes, a directory
callrec cannot write, the wrong monitor directory) is named by `doctor`.
`db upgrade`, `serve` and `recordings list` all read the one service.toml."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from ari_app.client import AriClient
from callrec import sandbox
from tests.ari.harness import TX_NUMBER
from tests.operator.install import (
    Node,
    callrec,
    start_asterisk,
    start_serve,
    stop_serve,
    write_node,
)
from tests.support.wait import wait_for

pytestmark = pytest.mark.asterisk


def doctor(node: Node) -> dict[str, dict[str, str]]:
    out = callrec("doctor", "--settings", str(node.settings), "--json", "--min-free-mb", "1")
    report = json.loads(out.stdout)
    assert out.returncode == (0 if report["ok"] else 1), out.stderr
    return {c["id"]: c for c in report["checks"]}


def problems(checks: dict[str, dict[str, str]]) -> dict[str, str]:
    return {k: f"{c['detail']} | fix: {c['fix']}" for k, c in checks.items() if c["status"] != "ok"}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Node, sandbox.Instance]]:
    n = write_node(tmp_path, f"install-{os.getpid()}")
    inst = start_asterisk(n)
    try:
        yield n, inst
    finally:
        sandbox.stop(inst)
        assert not sandbox.leftovers(inst)


async def test_printed_snippets_make_a_working_node_and_doctor_names_each_mistake(
    node: tuple[Node, sandbox.Instance],
) -> None:
    n, inst = node
    before = doctor(n)
    # Asterisk is set up; only what callrec serve provides is missing.
    assert set(problems(before)) == {"ari.app", "agi.reachable", "db.migrated"}, problems(before)

    upgraded = callrec("db", "upgrade", "--settings", str(n.settings))
    assert upgraded.returncode == 0, upgraded.stderr
    proc, base = start_serve(n)
    try:
        green = doctor(n)
        assert problems(green) == {}, problems(green)

        auth = aiohttp.BasicAuth("ops", "ops-pass")
        c = n.credentials
        async with (
            aiohttp.ClientSession(auth=auth) as http,
            AriClient(inst.ari_url, c["ari_user"], c["ari_password"], "other") as raw,
        ):
            # The Stasis path, through the API.
            async with http.post(
                f"{base}/api/calls", json={"agent": "a1", "number": TX_NUMBER, "campaign": "auto"}
            ) as resp:
                assert resp.status == 201, await resp.text()
                stasis_call = (await resp.json())["call_id"]
            # The FastAGI path, through the site's own route and the printed contexts.
            customer = await raw.originate(
                "Local/customer@callrec-sim/n", context="site-inbound", extension="dial", priority=1
            )

            async def calls() -> list[dict] | None:
                async with http.get(f"{base}/api/calls") as resp:
                    body = await resp.json()
                rows = body if isinstance(body, list) else body.get("calls", [])
                recording = [r for r in rows if r.get("recording")]
                return rows if len(recording) >= 2 else None

            await wait_for(calls, 20, "both calls to record")
            await asyncio.sleep(2.0)
            for ch in await raw.list_channels():
                if ch["id"] in (f"{stasis_call}-c", customer["id"]):
                    await raw.hangup(ch["id"])

            def stored() -> str | None:
                out = callrec("recordings", "list", "--settings", str(n.settings)).stdout
                return out if len(out.strip().splitlines()) >= 2 else None

            listing = await wait_for(lambda: asyncio.to_thread(stored), 30, "two recordings")
        assert len(listing.strip().splitlines()) == 2, listing
        with sqlite3.connect(n.tmp / "callrec.db") as db:
            rows = dict(db.execute("SELECT source, call_id FROM recordings").fetchall())
        assert set(rows) == {"ari", "agi"} and rows["ari"] == stasis_call, rows
        # JSON log lines: every line naming either call carries its fields.
        logged = [
            json.loads(line)
            for line in (n.tmp / "serve.log").read_text().splitlines()
            if line.startswith("{")
        ]
        about = [line for line in logged if rows["agi"] in line["message"]]
        about += [line for line in logged if stasis_call in line["message"]]
        assert about and all(line.get("call_id") in rows.values() for line in about), about
        assert {line["call_id"] for line in logged if line.get("recording_id")} == set(
            rows.values()
        ), logged

        # Without Asterisk's CLI: contexts still checked (AMI DIALPLAN_EXISTS), and
        # what only the CLI shows is reported as unchecked, never as ok.
        good = n.settings.read_text()
        n.settings.write_text(
            "\n".join(ln for ln in good.splitlines() if not ln.startswith("cli_command"))
        )
        try:
            no_cli = doctor(n)
        finally:
            n.settings.write_text(good)
        assert set(problems(no_cli)) == {
            "ami.read",
            "dialplan.features",
            "dirs.monitor.asterisk",
        }, problems(no_cli)["dialplan.contexts"]
        assert "AMI DIALPLAN_EXISTS" in no_cli["dialplan.contexts"]["detail"]
        assert all("CLI is not reachable" in p for p in problems(no_cli).values())

        # Planted mistake 1: the dialplan include left out.
        ext = n.etc / "extensions.conf"
        good = ext.read_text()
        ext.write_text(good.replace('#include "callrec/callrec-agi.conf"\n', ""))
        n.cli("dialplan reload")
        found = problems(doctor(n))
        assert set(found) == {"dialplan.contexts"}, found
        assert "callrec-agi-answer" in found["dialplan.contexts"]
        ext.write_text(good)
        n.cli("dialplan reload")

        # Planted mistake 2: AMI classes too narrow.
        man = n.etc / "manager.conf"
        good = man.read_text()
        man.write_text(
            good.replace("read = call,user", "read = call").replace(
                "write = call,system", "write = call"
            )
        )
        n.cli("manager reload")
        found = problems(doctor(n))
        assert set(found) == {"ami.classes", "ami.read"}, found
        assert "MixMonitor" in found["ami.classes"] and "system" in found["ami.classes"]
        assert "user" in found["ami.read"]
        man.write_text(good)
        n.cli("manager reload")

        # Planted mistake 3: the recording directory not writable by callrec
        # (a read-only bind mount: root ignores mode bits; Asterisk's private
        # mount namespace does not see it, so only callrec is refused).
        rec = n.host_dir / "spool" / "recording"
        subprocess.run(["mount", "--bind", str(rec), str(rec)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(rec)], check=True)
            found = problems(doctor(n))
        finally:
            subprocess.run(["umount", str(rec)], check=True)
        assert set(found) == {"dirs.recording"}, found
        assert "callrec cannot write" in found["dirs.recording"]

        assert problems(doctor(n)) == {}

        # Planted mistake 4: the node told the wrong monitor directory.
        good = n.settings.read_text()
        n.settings.write_text(
            good.replace(
                f'asterisk_monitor_dir = "{n.ast_dir}/spool/monitor"',
                'asterisk_monitor_dir = "/elsewhere"',
            )
        )
        try:
            found = problems(doctor(n))
        finally:
            n.settings.write_text(good)
        assert set(found) == {"dirs.monitor.asterisk"}, found
        assert f"{n.ast_dir}/spool/monitor" in found["dirs.monitor.asterisk"]
    finally:
        stop_serve(proc, n)
