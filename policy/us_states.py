"""The US state codes (50 states and DC): shared by the config model and the area-code table.

A module of its own so ``area_codes`` and ``config`` need not import each other.
"""

from __future__ import annotations

_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE "
    "NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
)
US_STATES: frozenset[str] = frozenset(_STATE_CODES.split(" "))
