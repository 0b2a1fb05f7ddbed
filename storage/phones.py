"""Phone numbers to E.164, the only form matching compares."""

from __future__ import annotations

import phonenumbers

from storage.errors import InvalidNumber


def to_e164(raw: str | None, region: str = "US") -> str | None:
    """E.164 for a parseable, possible number; None for anything else.

    ``is_possible_number`` rather than ``is_valid_number``: the library's data
    lags new area codes, and a CRM number we reject can never be matched.
    """
    if raw is None:
        return None
    text = raw.strip()
    if not text:
        return None
    try:
        num = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def require_e164(raw: str, region: str = "US") -> str:
    e164 = to_e164(raw, region)
    if e164 is None:
        raise InvalidNumber(f"cannot read {raw!r} as a phone number (region {region})")
    return e164
