"""Users file, hashing helper and the add command."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from console.users import UsersError, UserStore, add_user, hash_password, main, verify_password

EXAMPLE = Path(__file__).parents[2] / "examples" / "users.toml"


def test_hash_is_salted_scrypt_and_verifies() -> None:
    a, b = hash_password("pw"), hash_password("pw")
    assert a != b and a.startswith("scrypt$16384$8$1$")
    assert verify_password("pw", a) and not verify_password("pW", a)


def test_roles_map_to_permissions_and_actor() -> None:
    store = UserStore.from_dict(
        {
            "roles": {
                "qa": {"permissions": ["view_history", "assign"]},
                "agent": {"permissions": ["calls"]},
            },
            "users": {
                "ann": {
                    "password_hash": hash_password("x"),
                    "roles": ["qa", "agent"],
                    "agent": "a7",
                }
            },
        }
    )
    user = store.authenticate("ann", "x")
    assert user is not None and user.agent == "a7"
    assert user.has("calls") and user.has("assign") and not user.has("delete_unassigned")
    assert {p.value for p in user.actor().permissions} == {"view_history", "assign"}
    assert store.authenticate("ann", "y") is None and store.authenticate("bob", "x") is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"roles": {"r": {"permissions": ["fly"]}}}, "unknown ['fly']"),
        ({"users": {"u": {"password_hash": "plain", "roles": []}}}, "scrypt$N$r$p$salt$hash"),
        ({"users": {"u": {"roles": []}}}, "password_hash is required"),
        (
            {"users": {"u": {"password_hash": hash_password("x"), "roles": ["ghost"]}}},
            "unknown roles",
        ),
        ({"users": {"u": {"password_hash": hash_password("x"), "password": "x"}}}, "unknown keys"),
        ({"groups": {}}, "unknown top-level"),
    ],
)
def test_bad_users_files_are_rejected(data: dict[str, object], message: str) -> None:
    with pytest.raises(UsersError, match=message.replace("$", r"\$").replace("[", r"\[")):
        UserStore.from_dict(data)


def test_example_file_loads() -> None:
    store = UserStore.load(EXAMPLE)
    assert store.names()


def test_add_command_writes_a_loadable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "users.toml"
    f.write_text('[roles.agent]\npermissions = ["calls"]\n')
    monkeypatch.setattr(sys, "stdin", io.StringIO("s3cret\n"))
    assert main(["add", "ann", "--role", "agent", "--file", str(f), "--stdin"]) == 0
    add_user(f, "ann", ["agent"], "other")  # replace keeps one entry
    store = UserStore.load(f)
    assert store.names() == ["ann"]
    assert store.authenticate("ann", "other") is not None
    assert main(["add", "bob", "--role", "boss", "--file", str(f), "--stdin"]) == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw\n"))
    assert main(["hash", "--stdin"]) == 0
    out = capsys.readouterr().out
    assert "scrypt$" in out and "pw\n" not in out
