"""`callrec asterisk print-config`: the snippets carry this node's values, leave
out the sandbox's test contexts, and read back block by block."""

from __future__ import annotations

from pathlib import Path

import pytest

from callrec.asterisk_config import parse, render, snippets
from callrec.cli import main
from callrec.settings import load_settings

EXAMPLE = Path(__file__).parents[2] / "examples" / "service.toml"


def _example(tmp_path: Path) -> Path:
    """The example settings with its AGI secret file where this test can write it."""
    (tmp_path / "agi.secret").write_text("s3cret-" * 4 + "\n")
    path = tmp_path / "service.toml"
    path.write_text(
        EXAMPLE.read_text().replace('"/etc/callrec/agi.secret"', f'"{tmp_path / "agi.secret"}"')
    )
    return path


def test_snippets_are_filled_in_from_the_node_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CALLREC_DB", raising=False)
    settings = load_settings(_example(tmp_path))
    items = {s.path: s for s in snippets(settings)}
    assert "bindport = 8088" in items["http.conf"].text
    assert "[callrec]" in items["ari.conf"].text and "change-me-ari" not in items["ari.conf"].text
    manager = items["manager.conf"].text
    assert "secret = change-me-ami" in manager and "port = 5038" in manager
    assert "read = call,user\nwrite = call,system" in manager
    assert "CALLREC_AGI = agi://127.0.0.1:4573" in items["callrec/globals.conf"].text
    assert "CALLREC_AGI_SECRET = " + "s3cret-" * 4 in items["callrec/globals.conf"].text
    assert "events = CHAN_START,ANSWER,BRIDGE_ENTER" in items["cel.conf"].text
    assert "channelvars = CALLREC_CALL_ID" in manager
    assert (
        "callrec_toggle => *1,self,Gosub(callrec-agi-dtmf,toggle,1)" in items["features.conf"].text
    )
    agi = items["callrec/callrec-agi.conf"].text
    stasis = items["callrec/callrec-stasis.conf"].text
    for ctx in ("callrec-agi-prepare", "callrec-agi-answer", "callrec-agi-dtmf"):
        assert f"[{ctx}]" in agi
    assert "[callrec-inbound]" in stasis
    for text in (agi, stasis):
        assert "callrec-sim" not in text and "-test]" not in text and "-demo]" not in text


def test_render_and_parse_round_trip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CALLREC_DB", raising=False)
    items = snippets(load_settings(_example(tmp_path)))
    back = parse(render(items, Path("/etc/asterisk")))
    assert [(a, p) for a, p, _ in back] == [
        ("append to" if s.mode == "append" else "new file", f"/etc/asterisk/{s.path}")
        for s in items
    ]
    assert [t for _, _, t in back] == [s.text for s in items]


def test_a_sandbox_settings_file_cannot_be_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "service.toml"
    path.write_text('[asterisk]\ninstance = "default"\n')
    assert main(["asterisk", "print-config", "--settings", str(path)]) == 1
    assert "print-config needs [asterisk] ari_url" in capsys.readouterr().err
