"""Number location: country and state, area-code table, unparseable numbers."""

from __future__ import annotations

import phonenumbers
import phonenumbers.geocoder
import pytest

from policy import locate, normalize_e164
from policy.area_codes import parse_table, shipped_table
from policy.numbers import FAST_NANP, ProspectLocation

TABLE = shipped_table()

CASES = [
    ("+12125550100", "US", "US", "NY"),
    ("212-555-0100", "US", "US", "NY"),
    ("(415) 555-0100", "US", "US", "CA"),
    ("4155550100", "US", "US", "CA"),
    ("1 415 555 0100", "US", "US", "CA"),
    ("+1 202 555 0100", "US", "US", "DC"),
    ("+1 206 555 0100", "US", "US", "WA"),  # "Washington State"
    ("+1 603 555 0100", "US", "US", "NH"),  # "New Hampshire"
    ("+1 907 555 0100", "US", "US", "AK"),
    ("+1 808 555 0100", "US", "US", "HI"),
    ("+1 628 555 0100", "US", "US", "CA"),  # overlay of 415
    ("+13575550100", "US", "US", "CA"),  # overlay the library does not know yet
    ("+1 436 555 0100", "US", "US", "OH"),
    ("+1 800 555 0100", "US", "US", None),  # toll-free: US, state unknown
    ("+1 888 555 0100", "US", "US", None),
    ("+1 500 555 0100", "US", "US", None),
    ("+1 900 555 0100", "US", "US", None),
    ("+1 416 555 0100", "US", "CA", None),  # Toronto
    ("+1 604 555 0100", "US", "CA", None),  # Vancouver
    ("+1 787 555 0100", "US", "PR", None),  # Puerto Rico
    ("+1 939 555 0100", "US", "PR", None),
    ("+1 340 555 0100", "US", "VI", None),  # USVI
    ("+1 671 555 0100", "US", "GU", None),  # Guam
    ("+1 242 555 0100", "US", "BS", None),
    ("+44 20 7946 0958", "US", "GB", None),
    ("020 7946 0958", "GB", "GB", None),  # default region for national numbers
    ("2125550100", "GB", "GB", None),  # read as a UK national number: the code decides
    ("+33 1 23 45 67 89", "US", "FR", None),
    ("+52 55 1234 5678", "US", "MX", None),
    ("+44 1481 723456", "US", "GG", None),  # shared country code
]


@pytest.mark.parametrize(("raw", "region", "country", "state"), CASES)
def test_locate(raw: str, region: str, country: str | None, state: str | None) -> None:
    assert locate(raw, region, TABLE) == ProspectLocation(country, state)


@pytest.mark.parametrize(
    "raw", [None, "", "anonymous", "Anonymous", "withheld", "private", "garbage", "12ab",
            "+1 12", "+1 055 555 0100", "+999 12345", "+44 1", "0000000000", "*67"]
)  # fmt: skip
def test_unparseable(raw: str | None) -> None:
    assert locate(raw, "US", TABLE) == ProspectLocation(None, None)


def test_fast_path_agrees_with_library(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    import policy.numbers as numbers

    assert FAST_NANP
    rng = random.Random(5)
    samples = [f"+1{rng.randint(2000000000, 9999999999)}" for _ in range(3000)]
    samples += [str(rng.randint(2000000000, 9999999999)) for _ in range(3000)]
    fast = [locate(s, "US", TABLE) for s in samples]
    monkeypatch.setattr(numbers, "FAST_NANP", False)
    numbers._nanp_area_region.clear()
    slow = [locate(s, "US", TABLE) for s in samples]
    assert fast == slow


def test_table_covers_every_us_geographic_code_the_library_knows() -> None:
    missing = []
    for area in range(200, 1000):
        number = phonenumbers.parse(f"+1{area}2345678")
        geo = phonenumbers.geocoder.description_for_number(number, "en")
        if phonenumbers.region_code_for_number(number) == "US" and geo and area not in TABLE:
            missing.append(area)
    assert missing == []


def test_table_has_no_canadian_or_caribbean_codes() -> None:
    for area in (204, 416, 438, 604, 787, 939, 340, 671, 242, 876):
        assert area not in TABLE
    assert len(TABLE) > 350


def test_parse_table_errors_name_file_and_line() -> None:
    table, issues = parse_table("# c\narea_code,state\n212,NY\n99,NY\n213,XX\n214\n", "mine.csv")
    assert table == {212: "NY"}
    assert [i.line for i in issues] == [4, 5, 6]
    assert all(i.file == "mine.csv" for i in issues)
    assert "200-999" in issues[0].message and "XX" in issues[1].message


def test_normalize_e164() -> None:
    assert normalize_e164("(212) 555-0100") == "+12125550100"
    assert normalize_e164("020 7946 0958", "GB") == "+442079460958"
    assert normalize_e164("anonymous") is None
