from __future__ import annotations

from pathlib import Path

import pytest

from policy import Config, load_config
from tests.ari.harness import POLICY


@pytest.fixture(scope="session")
def stasis_policy(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The policy the Stasis streams were recorded with (tests/ari/harness.py)."""
    path: Path = tmp_path_factory.mktemp("policy") / "callrec.toml"
    path.write_text(POLICY)
    return load_config(path)


@pytest.fixture(scope="session")
def dialplan_policy(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The policy the dialplan streams were recorded with (tests/agi/conftest.py)."""
    from tests.agi.conftest import POLICY_TOML

    path: Path = tmp_path_factory.mktemp("policy") / "callrec.toml"
    path.write_text(POLICY_TOML)
    return load_config(path)
