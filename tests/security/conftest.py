"""Security tests reuse the real-part fixtures of the FastAGI and storage suites."""

from tests.agi.conftest import agi_env, env  # noqa: F401
from tests.storage.conftest import config, db, db_url, postgres, service, sshd  # noqa: F401
