"""The rules both call paths share for ids, true words and channel variables.

An id that may reach a dial string, a channel variable or a file name must
not contain ``@``, ``:`` or ``/`` (nor anything but letters, digits, ``_``,
``.`` and ``-``): an agent id of ``1001@evil`` would otherwise change where
Asterisk dials, and ``../x`` where a file is written.
"""

from __future__ import annotations

import re

SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
CONTINUE_VAR = "CALLREC_CONTINUE_RECORDING"  # the transferring agent's checkbox


def safe_id(value: str | None) -> bool:
    """May ``value`` reach a dial string or a file name?"""
    return bool(value) and SAFE_ID.match(value or "") is not None


def is_true(value: str | None) -> bool:
    """A channel variable or form value meant as yes."""
    return (value or "").strip().lower() in TRUE_WORDS


def endpoint(template: str, **values: str) -> str:
    """A dial string from a settings template (``{agent}``, ``{number}``).

    Each value must pass :func:`safe_id`: a value holding ``@``, ``:`` or
    ``/`` would change where Asterisk dials, so it is refused, not filled in.
    """
    for key, value in values.items():
        if not safe_id(value):
            raise ValueError(f"{key} {value!r} is not safe in a dial string")
        template = template.replace("{" + key + "}", value)
    return template
