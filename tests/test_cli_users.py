"""`callrec user`: manage console users from the main command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_user_command_adds_a_user_the_service_can_load(tmp_path: Path) -> None:
    from callrec.cli import main
    from console.users import UserStore

    users = tmp_path / "users.toml"
    users.write_text('[roles.qa]\npermissions = ["view_history", "view_unassigned"]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "callrec", "user", "add", "carol", "--role", "qa",
         "--file", str(users), "--stdin"],
        input="carol-pass\n", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "carol-pass" not in users.read_text()
    assert UserStore.load(users).names() == ["carol"]
    assert main(["user", "check", str(users)]) == 0
