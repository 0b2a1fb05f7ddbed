"""callrec recording policy: config + call facts -> decision with reasons (SPEC 2).

Everything the call paths need is importable from here. The decision code is
pure; only ``load_config`` reads files.
"""

from policy.config import Config, announcement_for
from policy.engine import ACTIONS, Decision, allowed_action, decide
from policy.errors import CallFactsError, ConfigError, ConfigIssue
from policy.facts import CallFacts
from policy.loader import default_config, load_config
from policy.numbers import ProspectLocation, locate, normalize_e164

__all__ = [
    "ACTIONS",
    "CallFacts",
    "CallFactsError",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Decision",
    "ProspectLocation",
    "allowed_action",
    "announcement_for",
    "decide",
    "default_config",
    "load_config",
    "locate",
    "normalize_e164",
]
