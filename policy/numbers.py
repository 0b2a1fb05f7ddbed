"""Where a prospect's number is: country (region code) and, for the US, state.

The phone-number library decides the country, except for +1 numbers whose
area code is in the shipped (or admin's) US table: those are US with that
state even when the library's data lags and calls the number invalid. That is
why the table is consulted before the library's validity checks, and why
Canada, Puerto Rico and the other +1 regions come out as their own countries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber

# US, but not tied to a state: toll-free, personal communications (5XX),
# 700 (carrier services), 710 (federal government), 900 (premium), and the
# codes NANPA reserves for toll-free growth.
US_NON_GEOGRAPHIC: frozenset[int] = frozenset(
    {500, 521, 522, 523, 524, 525, 526, 527, 528, 529, 532, 533, 544, 566, 577, 588}
    | {700, 710, 800, 822, 833, 844, 855, 866, 877, 880, 881, 882, 883, 884, 885, 886, 887}
    | {888, 889, 900}
)

_COUNTRY_REGIONS = phonenumbers.COUNTRY_CODE_TO_REGION_CODE


@dataclass(frozen=True, slots=True)
class ProspectLocation:
    """Country is a region code (``US``, ``CA``, ``PR``, ``GB``...) or None when
    the number cannot be placed; state is only ever set for US numbers."""

    country: str | None
    state: str | None


UNKNOWN = ProspectLocation(None, None)
_US_NO_STATE = ProspectLocation("US", None)

# Set to False to send every number through the library (the benchmark
# reports both figures).
FAST_NANP = True
_NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
_nanp_area_region: dict[int, str] = {}


def parse(raw: str | None, default_region: str) -> PhoneNumber | None:
    """The library's parse, with anonymous/withheld/garbage mapped to None."""
    if not raw:
        return None
    try:
        return phonenumbers.parse(raw, default_region)
    except NumberParseException:
        return None


def locate(raw: str | None, default_region: str, area_codes: Mapping[int, str]) -> ProspectLocation:
    if not raw:
        return UNKNOWN
    if FAST_NANP:
        national = _plain_nanp(raw, default_region)
        if national is not None:
            return _locate_nanp(national, None, area_codes)
    number = parse(raw, default_region)
    if number is None:
        return UNKNOWN
    return locate_parsed(number, area_codes)


def _plain_nanp(raw: str, default_region: str) -> int | None:
    """The national number of an already-plain +1 number, without the library.

    Call paths mostly hand us ``+1NXXNXXXXXX`` or ten bare digits. For exactly
    those shapes the library's parse yields the same national number, so we
    skip it; anything else (spaces, brackets, other countries) goes through
    the library.
    """
    if raw[0] == "+":
        digits = raw[2:]
        if len(raw) != 12 or raw[1] != "1":
            return None
    elif len(raw) == 10 and default_region in _NANP_REGIONS:
        digits = raw
    else:
        return None
    if digits.isascii() and digits.isdigit() and digits[0] in "23456789":
        return int(digits)
    return None


def locate_parsed(number: PhoneNumber, area_codes: Mapping[int, str]) -> ProspectLocation:
    cc = number.country_code
    national = number.national_number
    if cc == 1:
        if national is None:
            return UNKNOWN
        return _locate_nanp(national, number, area_codes)
    if cc is None:
        return UNKNOWN
    regions = _COUNTRY_REGIONS.get(cc)
    if not regions or regions[0] == "001":  # unknown code or non-geographic entity
        return UNKNOWN
    if not phonenumbers.is_possible_number(number):
        return UNKNOWN
    if len(regions) == 1:
        return ProspectLocation(regions[0], None)
    # Shared country codes (+44 GB/GG/IM/JE, +7 RU/KZ...): ask the library,
    # falling back to the code's main region for numbers it does not know.
    region = phonenumbers.region_code_for_number(number)
    return ProspectLocation(region or regions[0], None)


def _locate_nanp(
    national: int, number: PhoneNumber | None, area_codes: Mapping[int, str]
) -> ProspectLocation:
    if not 2_000_000_000 <= national <= 9_999_999_999:
        return UNKNOWN
    area = national // 10_000_000
    state = area_codes.get(area)
    if state is not None:
        return ProspectLocation("US", state)
    if area in US_NON_GEOGRAPHIC:
        return _US_NO_STATE
    # Each +1 area code belongs to one region, so its region can be cached
    # once the library has recognised one valid number in it.
    region = _nanp_area_region.get(area)
    if region is None:
        if number is None:
            number = PhoneNumber(country_code=1, national_number=national)
        region = phonenumbers.region_code_for_number(number)
        if region is None:
            return UNKNOWN
        _nanp_area_region[area] = region
    if region == "US":  # valid for the library but missing from the table
        return _US_NO_STATE
    return ProspectLocation(region, None)


def normalize_e164(raw: str | None, default_region: str = "US") -> str | None:
    """E.164 form for storage and CRM matching; None when not a number."""
    number = parse(raw, default_region)
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
