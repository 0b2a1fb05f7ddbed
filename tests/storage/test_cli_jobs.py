from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from callrec.cli import main
from storage.config import StorageConfig, load_storage_config
from storage.errors import ConfigInvalid
from storage.jobs import next_run, run_nightly, run_once_if_due
from storage.service import StorageService
from tests.storage.conftest import make_segment


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg_file = tmp_path / "service.toml"
    cfg_file.write_text(
        '[storage]\ndb_url = "sqlite:///data/callrec.db"\nstore_root = "store"\n'
        '[storage.upload]\ntype = "local"\nlocal_dir = "platform"\n'
    )
    base = ["--settings", str(cfg_file)]
    assert run(capsys, "db", "upgrade", *base)[0] == 0
    assert (tmp_path / "data" / "callrec.db").exists()
    cfg = load_storage_config(cfg_file)
    svc = StorageService.open(cfg)
    rid = asyncio.run(svc.accept_segment(make_segment(tmp_path, number="4155550100")))
    svc.close()
    code, out, _ = run(capsys, "recordings", "list", "--unassigned", *base)
    assert code == 0 and rid in out
    csv = tmp_path / "crm.csv"
    csv.write_text("id,cell_phone\n1,4155550100\n2,garbage\n")
    code, out, err = run(capsys, "crm", "import", str(csv), "--kind", "agent", *base)
    assert code == 0 and "2 created" in out and "line 3: cell='garbage'" in err
    code, out, _ = run(capsys, "rematch", *base)
    assert (code, out.strip()) == (0, "assigned 1 recording(s)")
    code, out, _ = run(capsys, "outbox", "status", *base)
    assert code == 0 and "pending 3" in out
    code, out, _ = run(capsys, "outbox", "drain", *base)
    assert code == 0 and "uploaded 3" in out
    code, out, _ = run(capsys, "erase", "--number", "(415) 555-0100", *base)
    assert code == 0 and "erased 1 recording(s) of +14155550100" in out
    code, out, err = run(capsys, "erase", "--number", "nope", *base)
    assert code == 1 and "error [number.invalid]" in err
    code, out, _ = run(capsys, "retention", "run", *base)
    assert code == 0
    monkeypatch.setenv("CALLREC_DB", f"sqlite:///{tmp_path / 'env.db'}")
    assert run(capsys, "db", "upgrade")[0] == 0
    assert (tmp_path / "env.db").exists()


def test_bad_config_is_rejected_with_key(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('[storage]\nrematch_at = "25:00"\n')
    with pytest.raises(ConfigInvalid, match=r"storage\.rematch_at"):
        load_storage_config(f)
    f.write_text('[storage.upload]\ntype = "sftp"\nhost = "x"\n')
    with pytest.raises(ConfigInvalid, match="known_hosts"):
        load_storage_config(f)


def test_next_run() -> None:
    assert next_run(datetime(2024, 5, 1, 1, 0), "02:30") == datetime(2024, 5, 1, 2, 30)
    assert next_run(datetime(2024, 5, 1, 3, 0), "02:30") == datetime(2024, 5, 2, 2, 30)


async def test_nightly_rematch_runs_once_per_day_across_nodes(
    service: StorageService, config: StorageConfig, tmp_path: Path
) -> None:
    other_node = StorageService(service.db, config)
    runs: list[str] = []

    async def job() -> None:
        runs.append("x")

    night = datetime(2024, 5, 1, 2, 31)
    assert not await run_once_if_due(service, "rematch", "02:30", job, datetime(2024, 5, 1, 2, 0))
    assert await run_once_if_due(service, "rematch", "02:30", job, night)
    assert not await run_once_if_due(other_node, "rematch", "02:30", job, night)
    assert await run_once_if_due(other_node, "rematch", "02:30", job, datetime(2024, 5, 2, 3, 0))
    assert runs == ["x", "x"]


async def test_run_nightly_scheduler_assigns_and_stops(
    service: StorageService, tmp_path: Path
) -> None:
    from storage.permissions import Actor

    rid = await service.accept_segment(make_segment(tmp_path, number="4155550100"))
    (tmp_path / "c.csv").write_text("id,cell_phone\nc1,4155550100\n")
    await service.import_crm(Actor.of("a", "admin"), tmp_path / "c.csv", "individual")
    stop = asyncio.Event()
    task = asyncio.create_task(run_nightly(service, stop))  # rematch_at has passed today?
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(task, 5)
    view = await service.get_recording(Actor.of("a", "admin"), rid)
    due = datetime.now() >= datetime.now().replace(hour=2, minute=30)
    assert view.state == ("assigned" if due else "unassigned")
