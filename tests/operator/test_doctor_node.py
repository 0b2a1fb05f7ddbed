"""Doctor's node-side checks against real parts: an SFTP target (OpenSSH sshd)
with a known and an unknown host key, a database behind and at its revision,
a directory callrec cannot use, and the report's shape and exit status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from callrec import doctor_node as dc
from callrec.cli import main
from callrec.doctor import Check, render_json, render_text
from callrec.settings import ServiceSettings
from storage.config import StorageConfig, UploadTargetConfig
from storage.db import make_engine, upgrade
from tests.storage.conftest import sftp_upload_config
from tests.support.sshd import Sshd, _keygen


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path / "sshd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _settings(tmp: Path, **storage: object) -> ServiceSettings:
    return ServiceSettings(
        state_dir=tmp,
        storage=StorageConfig(db_url=f"sqlite:///{tmp / 'c.db'}", store_root=tmp, **storage),  # type: ignore[arg-type]
    )


@pytest.mark.sshd
async def test_upload_target_answers_with_a_known_host_key_or_is_named(
    sshd: Sshd, tmp_path: Path
) -> None:
    settings = _settings(tmp_path, upload=sftp_upload_config(sshd, tmp_path / "remote"))
    [good] = await dc.upload_checks(settings)
    assert good.ok and "known host key" in good.detail, good
    other = tmp_path / "other_key"
    _keygen(other)
    sshd.write_known_hosts(other)  # a changed host key
    [bad] = await dc.upload_checks(settings)
    assert not bad.ok and "upload.hostkey_mismatch" in bad.detail, bad
    assert "ssh-keyscan" in bad.fix and str(sshd.known_hosts) in bad.fix
    sshd.stop()
    sshd.write_known_hosts()
    [down] = await dc.upload_checks(settings)
    assert not down.ok and "upload.failed" in down.detail, down


def test_database_revision_is_checked_against_the_code(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    found = {c.id: c for c in dc.db_checks(settings)}
    assert not found["db.migrated"].ok and "callrec db upgrade" in found["db.migrated"].fix
    engine = make_engine(settings.storage.db_url)
    upgrade(engine)
    engine.dispose()
    found = {c.id: c for c in dc.db_checks(settings)}
    assert found["db.migrated"].ok and found["clock.db"].ok, found


def test_a_local_upload_dir_callrec_cannot_make_is_named(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, upload=UploadTargetConfig(type="local", local_dir=tmp_path / "new" / "dir")
    )
    [check] = asyncio.run(dc.upload_checks(settings))
    assert check.ok and "will be created by callrec" in check.detail, check
    (tmp_path / "file").write_text("")
    settings = _settings(
        tmp_path, upload=UploadTargetConfig(type="local", local_dir=tmp_path / "file" / "dir")
    )
    [check] = asyncio.run(dc.upload_checks(settings))
    assert not check.ok and "cannot be created" in check.detail, check


def test_report_shapes_and_exit_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checks = [Check("a", True, "fine"), Check("b", False, "broken", "mend it")]
    text = render_text(checks)
    assert "problem  b" in text and "fix: mend it" in text and "2 checks, 1 problem(s)" in text
    data = json.loads(render_json(checks))
    assert data["ok"] is False and data["problems"] == 1
    assert data["checks"][1] == {
        "status": "problem",
        "id": "b",
        "ok": False,
        "detail": "broken",
        "fix": "mend it",
    }
    # A production file that cannot reach anything: every problem named, exit 1.
    monkeypatch.delenv("CALLREC_SETTINGS", raising=False)
    assert main(["doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in report["checks"]] == ["settings"]
    assert "settings.missing" in report["checks"][0]["detail"]
