"""Config files: every kind of bad config, warnings, includes, area-code files."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy import ConfigError, ConfigIssue, default_config, load_config


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def errors_of(path: Path) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.errors


def test_empty_file_is_org_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "callrec.toml", ""))
    default = default_config()
    assert cfg.model == default.model
    assert cfg.org.default_region == "US" and cfg.org.default_mode == "on_demand"
    assert cfg.consent.two_party_states == [
        "CA", "CT", "DE", "FL", "IL", "MD", "MA", "MI", "MT", "NV", "NH", "PA", "WA",
    ]  # fmt: skip
    assert cfg.warnings == []
    assert cfg.files == ((tmp_path / "callrec.toml").resolve(),)


# (toml text, key path, words the message must contain, line)
BAD: list[tuple[str, str, tuple[str, ...], int | None]] = [
    ("[org]\nrecording_enabeld = true\n", "org.recording_enabeld",
     ("unknown key", "recording_enabled", "allow_pause"), 2),
    ("[orgs]\n", "orgs", ("unknown key", "campaigns"), 1),
    ('[org]\ndefault_mode = "sometimes"\n', "org.default_mode",
     ("never", "on_demand", "all_calls", "all_force", "sometimes"), 2),
    ('[org]\npost_transfer = "all_calls"\n', "org.post_transfer", ("never", "all_force"), 2),
    ('[campaigns.sales]\nmode = "on_demand"\npost_transfer = "always"\n',
     "campaigns.sales.post_transfer", ("follow_global",), 3),
    ("[campaigns.sales]\nlists = [1]\n", "campaigns.sales.mode",
     ("required", "on_demand"), 1),
    ('[consent]\nmode = "both"\n', "consent.mode", ("either_location", "prospect_location"), 2),
    ('[consent]\nprospect_location_by = "zip"\n', "consent.prospect_location_by",
     ("area_code", "state"), 2),
    ("[agents.1001]\nrecord_percent = 150\n", "agents.1001.record_percent",
     ("between 0 and 100", "150"), 2),
    ("[agent_defaults]\nrecord_percent = -1\n", "agent_defaults.record_percent",
     ("between 0 and 100",), 2),
    ("[queues.support]\nrecord_percent = 101.5\n", "queues.support.record_percent",
     ("between 0 and 100",), 2),
    ('[queues.support]\nrecord_percent = "ten"\n', "queues.support.record_percent",
     ("number",), 2),
    ('[agents.a]\nstate = "XX"\n', "agents.a.state", ("unknown US state", "XX", "50 states"), 2),
    ('[agents.a]\ncountry = "ZZ"\n', "agents.a.country", ("unknown country", "ISO 3166"), 2),
    ('[org]\ndefault_region = "USA"\n', "org.default_region", ("unknown country",), 2),
    ('[consent]\ntwo_party_states = ["CA", "QQ"]\n', "consent.two_party_states.1",
     ("unknown US state", "QQ"), 2),
    ('[consent]\nnever_record_states = ["PR"]\n', "consent.never_record_states.0",
     ("unknown US state",), 2),
    ('[consent.international]\ncountries = ["XX"]\nrestrict_to_countries = true\n',
     "consent.international.countries.0", ("unknown country",), 2),
    ("[consent.international]\nrestrict_to_countries = true\n",
     "consent.international.countries", ("at least one country",), 1),
    ("[consent.international]\nrestrict_to_countries = true\ncountries = []\n",
     "consent.international.countries", ("at least one country",), 3),
    ('[org]\nrecording_enabled = "yes"\n', "org.recording_enabled", ("true or false",), 2),
    ("[agents.a]\nstate = 5\n", "agents.a.state", ("string",), 2),
    ('[campaigns.a]\nmode = "never"\nlists = ["1"]\n[campaigns.b]\nmode = "never"\n'
     'lists = ["2", "1"]\n', "campaigns.b.lists", ("'1'", "already claimed", "'a'"), 6),
    ('include = "other.toml"\n', "include", ("list",), 1),
    ("org = 5\n", "org", ("table",), 1),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "words", "line"), BAD)
def test_bad_config(
    tmp_path: Path, text: str, key: str, words: tuple[str, ...], line: int | None
) -> None:
    path = write(tmp_path, "callrec.toml", text)
    errors = errors_of(path)
    assert len(errors) == 1, errors
    issue = errors[0]
    assert issue.key == key
    assert issue.file.endswith("callrec.toml")
    for word in words:
        assert word in issue.message
    assert issue.line == line
    assert str(issue).startswith(f"{issue.file}:{line}: {key}: ")


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "callrec.toml",
        '[org]\ndefault_mode = "x"\n[agents.a]\nstate = "XX"\nfoo = 1\n',
    )
    assert {e.key for e in errors_of(path)} == {
        "org.default_mode",
        "agents.a.state",
        "agents.a.foo",
    }


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    path = write(tmp_path, "callrec.toml", '[org]\nrecording_enabled = true\nmode = "x\n')
    (issue,) = errors_of(path)
    assert issue.line == 3 and "TOML syntax error" in issue.message


def test_missing_file(tmp_path: Path) -> None:
    (issue,) = errors_of(tmp_path / "nope.toml")
    assert "cannot read" in issue.message


WARN = [
    ('[consent]\nnever_record_prospect_side = true\nmode = "prospect_location"\n',
     "consent.mode", "irrelevant"),
    ('[consent.international]\ncountries = ["CA"]\n', "consent.international.countries",
     "ignored"),
    ('[agents.a]\ncountry = "GB"\nstate = "NY"\n', "agents.a.state", "ignored"),
    ("[agents.a]\npermit_recordings = false\nrecord_percent = 10\n",
     "agents.a.record_percent", "irrelevant"),
    ("[org]\nrecording_enabled = false\n", "org.recording_enabled", "disabled"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "key", "word"), WARN)
def test_warnings(tmp_path: Path, text: str, key: str, word: str) -> None:
    cfg = load_config(write(tmp_path, "callrec.toml", text))
    assert len(cfg.warnings) == 1
    assert f": {key}: " in cfg.warnings[0] and word in cfg.warnings[0]


def test_never_record_prospect_side_without_mode_is_quiet(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "c.toml", "[consent]\nnever_record_prospect_side = true\n"))
    assert cfg.warnings == []


def test_includes_merge_tables_and_globs(tmp_path: Path) -> None:
    main = write(
        tmp_path,
        "callrec.toml",
        'include = ["agents.toml", "campaigns/*.toml"]\n[org]\ndefault_mode = "never"\n'
        '[agents.a]\nstate = "NY"\n',
    )
    write(tmp_path, "agents.toml", "[agents.a]\nrecord_percent = 10\n[agents.b]\n")
    write(tmp_path, "campaigns/sales.toml", '[campaigns.sales]\nmode = "all_calls"\n')
    write(
        tmp_path,
        "campaigns/support.toml",
        'include = ["../queues.toml"]\n[campaigns.support]\nmode = "on_demand"\n',
    )
    write(tmp_path, "queues.toml", "[queues.q]\nrecord_percent = 5\n")
    cfg = load_config(main)
    assert cfg.agents["a"].state == "NY" and cfg.agents["a"].record_percent == 10
    assert set(cfg.campaigns) == {"sales", "support"}
    assert cfg.queues["q"].record_percent == 5
    assert len(cfg.files) == 5


def test_duplicate_key_across_files_names_both(tmp_path: Path) -> None:
    main = write(tmp_path, "callrec.toml", 'include = ["more.toml"]\n[agents.a]\nstate = "NY"\n')
    write(tmp_path, "more.toml", '\n[agents.a]\nstate = "TX"\n')
    (issue,) = errors_of(main)
    assert issue.key == "agents.a.state"
    assert issue.file.endswith("more.toml") and issue.line == 3
    assert "callrec.toml:3" in issue.message and "more.toml" in issue.message


def test_validation_error_in_included_file_names_that_file(tmp_path: Path) -> None:
    main = write(tmp_path, "callrec.toml", 'include = ["c/*.toml"]\n')
    write(tmp_path, "c/x.toml", '# x\n[campaigns.x]\nmode = "sometimes"\n')
    (issue,) = errors_of(main)
    assert issue.file.endswith("x.toml") and issue.line == 3 and issue.key == "campaigns.x.mode"


def test_lead_list_claimed_across_files(tmp_path: Path) -> None:
    main = write(
        tmp_path,
        "callrec.toml",
        'include = ["b.toml"]\n[campaigns.a]\nmode = "never"\nlists = ["L1"]\n',
    )
    write(tmp_path, "b.toml", '[campaigns.b]\nmode = "never"\nlists = ["L1"]\n')
    (issue,) = errors_of(main)
    assert issue.file.endswith("b.toml") and "callrec.toml" in issue.message


def test_include_problems(tmp_path: Path) -> None:
    main = write(tmp_path, "callrec.toml", 'include = ["missing.toml"]\n')
    (issue,) = errors_of(main)
    assert issue.key == "include" and "missing.toml" in issue.message
    cyc = write(tmp_path, "a.toml", 'include = ["b.toml"]\n')
    write(tmp_path, "b.toml", 'include = ["a.toml"]\n')
    (issue,) = errors_of(cyc)
    assert "cycle" in issue.message
    glob = write(tmp_path, "g.toml", 'include = ["none/*.toml"]\n')
    assert "matches no file" in load_config(glob).warnings[0]


def test_area_code_file(tmp_path: Path) -> None:
    write(tmp_path, "extra/codes.csv", "# mine\narea_code,state\n999,NV\n212,NJ\n")
    main = write(tmp_path, "callrec.toml", '[consent]\narea_code_file = "extra/codes.csv"\n')
    cfg = load_config(main)
    assert cfg.area_codes[999] == "NV" and cfg.area_codes[212] == "NJ"
    assert cfg.area_codes[415] == "CA"  # shipped entries stay
    assert (tmp_path / "extra/codes.csv").resolve() in cfg.files
    write(tmp_path, "extra/codes.csv", "999,XX\n")
    (issue,) = errors_of(main)
    assert issue.file.endswith("codes.csv") and issue.line == 1
    write(tmp_path, "callrec.toml", '[consent]\narea_code_file = "nope.csv"\n')
    (issue,) = errors_of(main)
    assert issue.key == "consent.area_code_file" and "cannot read" in issue.message


def test_example_config_is_accepted() -> None:
    root = Path(__file__).parents[2]
    cfg = load_config(root / "examples" / "callrec.toml")
    assert cfg.warnings == []
    assert len(cfg.files) >= 2
