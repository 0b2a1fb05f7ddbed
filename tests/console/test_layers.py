"""The console's modules form layers (pyproject.toml, [tool.importlinter]):
no import cycle can come back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_console_layers_contract_is_kept() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.exists(), "import-linter is not installed (pip install -e '.[test]')"
    proc = subprocess.run(
        [str(lint), "--contract", "console-layers", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kept, 0 broken" in proc.stdout
