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


# Digits compared by the "near" candidate match: the subscriber number, which
# stays the same when only the area code was mistyped.
NEAR_DIGITS = 7


def near_key(e164: str | None) -> str | None:
    """The last ``NEAR_DIGITS`` characters of an E.164 number; None when it has fewer.

    Stored beside each CRM phone (``crm_phones.e164_last7``, indexed) so the near
    match is an index lookup instead of a ``LIKE '%…'`` scan of the phone table.
    """
    if e164 is None or len(e164) < NEAR_DIGITS:
        return None
    return e164[-NEAR_DIGITS:]


def require_e164(raw: str, region: str = "US") -> str:
    e164 = to_e164(raw, region)
    if e164 is None:
        raise InvalidNumber(f"cannot read {raw!r} as a phone number (region {region})")
    return e164
