"""The CLI contract: check-config, decide (one call and jsonl batches), explain."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from callrec.cli import main

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "callrec.toml"
CALL = {
    "call_id": "c1",
    "direction": "outbound",
    "agent": "1001",
    "campaign": "sales",
    "prospect": {"number": "+12125550100"},
}


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def test_check_config_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == "ok\n"


def test_check_config_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path, "c.toml", '[consent]\nnever_record_prospect_side = true\nmode = "user_location"\n'
    )
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "ok"
    assert out[1].startswith("warning: ") and "c.toml:3: consent.mode:" in out[1]


def test_check_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "c.toml", '[org]\ndefault_mode = "x"\n[agents.a]\nstate = "XX"\n')
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].endswith(
        "c.toml:2: org.default_mode: must be one of: 'never', 'on_demand', "
        "'all_calls' or 'all_force' (got 'x')"
    )
    assert "c.toml:4: agents.a.state: unknown US state code 'XX'" in err[1]


def test_decide_one_call(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call = write(tmp_path, "call.json", json.dumps(CALL))
    assert main(["decide", "--config", str(EXAMPLE), "--call", str(call)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "legs": "both",
        "autostart": out["autostart"],
        "agent_can_start": True,
        "agent_can_stop": True,
        "agent_can_pause": True,
        "mode": "on_demand",
        "announce": "custom/sales-recording-notice",
        "reasons": out["reasons"],
    }
    assert "mode.campaign" in out["reasons"]


def test_decide_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(CALL)))
    assert main(["decide", "--config", str(EXAMPLE), "--call", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["legs"] == "both"


@pytest.mark.parametrize(
    ("text", "code"),
    [("{not json", "invalid_json"), ('{"call_id": "x"}', "invalid_call")],
)
def test_decide_bad_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, code: str
) -> None:
    call = write(tmp_path, "call.json", text)
    assert main(["decide", "--config", str(EXAMPLE), "--call", str(call)]) == 1
    assert json.loads(capsys.readouterr().out)["error"]["code"] == code


def test_decide_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "c.toml", "[org\n")
    call = write(tmp_path, "call.json", json.dumps(CALL))
    assert main(["decide", "--config", str(bad), "--call", str(call)]) == 1
    assert "c.toml:1: TOML syntax error" in capsys.readouterr().err


def test_decide_jsonl_batch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        json.dumps(CALL),
        "{broken",
        "",
        json.dumps({**CALL, "agent": "9001"}),
        json.dumps({**CALL, "direction": "up"}),
        json.dumps({**CALL, "prospect": {"number": "+442079460958"}}),
    ]
    calls = write(tmp_path, "calls.jsonl", "\n".join(lines) + "\n")
    assert main(["decide", "--config", str(EXAMPLE), "--calls", str(calls)]) == 3
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(out) == 6
    assert out[0]["legs"] == "both"
    assert out[1]["error"]["code"] == "invalid_json" and out[1]["error"]["line"] == 2
    assert out[2]["error"] == {
        "code": "blank_line",
        "message": "blank line: no call to decide",
        "line": 3,
    }
    assert out[3]["legs"] == "none" and out[3]["reasons"] == ["agent.not_permitted"]
    assert out[4]["error"]["code"] == "invalid_call" and "direction" in out[4]["error"]["message"]
    assert out[5]["legs"] == "agent"


def test_decide_jsonl_all_good_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls = write(tmp_path, "calls.jsonl", json.dumps(CALL) + "\n\n" + json.dumps(CALL) + "\n")
    assert main(["decide", "--config", str(EXAMPLE), "--calls", str(calls)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call = write(tmp_path, "call.json", json.dumps({**CALL, "agent": "1002"}))
    assert main(["explain", "--config", str(EXAMPLE), "--call", str(call)]) == 0
    out = capsys.readouterr().out
    assert "records the agent's side only" in out
    assert "Decided by: consent.agent_two_party" in out
    assert "To change it:" in out
    assert "Mode from: campaign sales" in out


def test_subprocess_entry_point(tmp_path: Path) -> None:
    call = write(tmp_path, "call.json", json.dumps(CALL))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "callrec.cli",
            "decide",
            "--config",
            str(EXAMPLE),
            "--call",
            str(call),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["legs"] == "both"
