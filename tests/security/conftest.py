"""Fixtures for the security tests.

The FastAGI service here is the real one (as in tests/agi) but on its own free
port: calls are originated with ``CALLREC_AGI`` pointing at it (a channel
variable overrides the dialplan global), so this directory and tests/agi can
run in one session without two servers wanting the sandbox's AGI port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agi_scripts.service import AgiService
from ari_app.client import AriClient
from callcore.ami import AmiAddress
from callcore.finish import Handoff
from callcore.registry import CallRegistry
from callcore.state_store import StateStore
from callrec.sandbox import Instance
from callrec.settings import EndpointSettings, ServiceSettings
from policy import load_config
from tests.agi.conftest import POLICY_TOML, AgiEnv, MemorySink, no_channels
from tests.storage.conftest import config, db, db_url, postgres, service, sshd  # noqa: F401
from tests.support.sshd import free_port


class SecurityAgiEnv(AgiEnv):
    async def originate(self, route: str, **variables: str) -> str:
        port = self.service.port
        return await super().originate(route, CALLREC_AGI=f"agi://127.0.0.1:{port}", **variables)


@pytest.fixture(scope="session")
async def security_agi(
    asterisk: Instance, ari: AriClient, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SecurityAgiEnv]:
    base: Path = tmp_path_factory.mktemp("security-agi")
    (base / "callrec.toml").write_text(POLICY_TOML)
    holder = {"config": load_config(base / "callrec.toml")}
    sink = MemorySink()
    registry = CallRegistry()
    agi = AgiService(
        ServiceSettings(endpoints=EndpointSettings(agents={"2002": "Local/agent2@callrec-sim/n"})),
        lambda: holder["config"],
        registry,
        Handoff(sink, base / "pending"),
        StateStore(base / "state"),
        asterisk.monitor_dir,
        f"{asterisk.ast_dir}/spool/monitor",
        AmiAddress("127.0.0.1", asterisk.ports.ami, asterisk.ami_user, asterisk.ami_secret),
        agi_port=free_port(),
        agi_secret=asterisk.agi_secret,
    )
    await agi.start()
    yield SecurityAgiEnv(asterisk, ari, agi, sink, registry, holder)
    await agi.stop()


@pytest.fixture
async def env(security_agi: SecurityAgiEnv) -> AsyncIterator[SecurityAgiEnv]:
    """Per test: the shared service, and no channel left behind afterwards."""
    yield security_agi
    await no_channels(security_agi.asterisk)
