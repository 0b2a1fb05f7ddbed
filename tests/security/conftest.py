"""Security tests reuse the FastAGI path's real-Asterisk fixtures."""

from tests.agi.conftest import agi_env, env  # noqa: F401
