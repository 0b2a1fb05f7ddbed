"""One settings file per node: production keys are required and named, never
quietly replaced by the sandbox's or the demo's defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from callrec.cli import main
from callrec.settings import (
    REQUIRED,
    SettingsError,
    SettingsMissing,
    load_settings,
    settings_path,
)

PRODUCTION = """
policy_config = "callrec.toml"
state_dir = "state"
[asterisk]
ari_url = "http://127.0.0.1:8088/ari"
ari_user = "callrec"
ari_password = "pw"
ami_user = "callrec"
ami_secret = "s"
[endpoints]
agent = "PJSIP/{agent}"
customer = "PJSIP/{number}@trunk"
[storage]
db_url = "sqlite:///data/callrec.db"
store_root = "store"
[storage.upload]
type = "local"
local_dir = "platform"
"""


def write(tmp: Path, text: str, name: str = "service.toml") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def drop(text: str, key: str) -> str:
    """The production file without one ``key = ...`` line."""
    lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
    return "\n".join(lines) + "\n"


def test_a_complete_production_file_loads_with_paths_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLREC_DB", raising=False)
    s = load_settings(write(tmp_path, PRODUCTION))
    assert s.asterisk.instance is None and s.asterisk.ari_url == "http://127.0.0.1:8088/ari"
    assert s.endpoints.agent == "PJSIP/{agent}"
    assert s.state_dir == tmp_path / "state"
    assert s.storage.db_url == f"sqlite:///{tmp_path}/data/callrec.db"
    assert s.storage.store_root == tmp_path / "store"


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("ari_url", "asterisk.ari_url"),
        ("ami_secret", "asterisk.ami_secret"),
        ("agent", "endpoints.agent"),
        ("customer", "endpoints.customer"),
        ("db_url", "storage.db_url"),
        ("store_root", "storage.store_root"),
        ("type", "storage.upload.type"),
        ("policy_config", "policy_config"),
        ("state_dir", "state_dir"),
    ],
)
def test_each_missing_production_key_is_named_with_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, key: str
) -> None:
    monkeypatch.delenv("CALLREC_DB", raising=False)
    path = write(tmp_path, drop(PRODUCTION, line))
    with pytest.raises(SettingsMissing) as info:
        load_settings(path)
    assert info.value.code == "settings.missing"
    assert str(info.value) == f"{path}: {key}: not set: {REQUIRED[key][1]}"


def test_storage_commands_need_only_the_storage_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALLREC_DB", raising=False)
    text = (
        "[storage]\ndb_url = 'sqlite:///x.db'\nstore_root = 's'\n[storage.upload]\ntype = 'none'\n"
    )
    path = write(tmp_path, text)
    assert load_settings(path, "storage").storage.upload.type == "none"
    with pytest.raises(SettingsMissing, match=r"asterisk\.ari_url: not set"):
        load_settings(path, "serve")
    with pytest.raises(SettingsMissing, match=r"storage\.db_url: not set"):
        load_settings(write(tmp_path, drop(text, "db_url")), "storage")
    monkeypatch.setenv("CALLREC_DB", "sqlite:///env.db")  # the environment names it
    assert load_settings(path.with_name("service.toml"), "storage")


def test_a_sandbox_instance_keeps_the_embedded_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, '[asterisk]\ninstance = "default"\n'))
    assert s.asterisk.instance == "default"
    assert s.endpoints.agent == "Local/agent@callrec-sim/n"


def test_no_file_is_an_error_not_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLREC_SETTINGS", raising=False)
    with pytest.raises(SettingsMissing, match=r"--settings service\.toml or set CALLREC_SETTINGS"):
        settings_path(None)
    monkeypatch.setenv("CALLREC_SETTINGS", "/etc/callrec/service.toml")
    assert settings_path(None) == Path("/etc/callrec/service.toml")


def test_serve_without_settings_exits_with_the_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CALLREC_SETTINGS", raising=False)
    assert main(["serve"]) == 1
    assert "error [settings.missing]: no settings file" in capsys.readouterr().out


def test_storage_command_without_settings_or_db_exits_with_the_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CALLREC_SETTINGS", raising=False)
    monkeypatch.delenv("CALLREC_DB", raising=False)
    assert main(["outbox", "status"]) == 1
    assert "error [settings.missing]: no settings file" in capsys.readouterr().err


def test_the_policy_file_given_as_settings_is_refused_by_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[asterisk]\ninstance = "x"\n[org]\ndefault_mode = "never"\n')
    with pytest.raises(SettingsError, match=r"org: Extra inputs are not permitted"):
        load_settings(path)


def test_the_example_file_is_a_complete_production_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLREC_DB", raising=False)
    example = Path(__file__).parents[2] / "examples" / "service.toml"
    s = load_settings(example, "serve")
    assert s.asterisk.instance is None and s.storage.upload.type == "sftp"


def test_originate_formats_are_codec_names_only() -> None:
    """``[endpoints] formats`` goes to Asterisk as the originate's formats: names only."""
    from pydantic import ValidationError

    from callcore.call_settings import EndpointSettings

    assert EndpointSettings().formats == ""  # real phones: Asterisk chooses
    assert EndpointSettings(formats="slin,ulaw").formats == "slin,ulaw"
    for bad in ("slin;ulaw", "slin, ulaw", "SLIN&x=1", "a" * 201):
        with pytest.raises(ValidationError):
            EndpointSettings(formats=bad)
