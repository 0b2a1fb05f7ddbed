"""The shipped area-code table is NANPA's report, whole, and the library agrees with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy import locate
from policy.area_codes import shipped_table
from policy.data import regenerate

TABLE = shipped_table()
REPORT = regenerate.read_report(regenerate.SHIPPED_REPORT.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("code", "state"),
    [(457, "LA"), (621, "TX"), (729, "TN"), (924, "MN"), (837, "CA"), (357, "CA"), (679, "MI")],
)
def test_codes_recently_in_service_are_listed(code: int, state: str) -> None:
    assert TABLE[code] == state
    where = locate(f"+1{code}5550100", "US", TABLE)
    assert (where.country, where.state) == ("US", state)


def test_table_is_exactly_what_the_nanpa_report_says() -> None:
    from_report = {int(c): s for c, s in regenerate.us_table(REPORT).items()}
    assert from_report == TABLE
    in_service = {
        int(r["NPA_ID"])
        for r in REPORT.rows
        if r["USE"] == "G" and r["COUNTRY"] == "US" and r["LOCATION"] in regenerate.STATES
        and r["IN_SERVICE"] == "Y"
    }  # fmt: skip
    assert in_service <= set(TABLE) and len(in_service) >= 369


def test_header_names_the_report_date() -> None:
    text = (regenerate.SHIPPED_REPORT.parent / "us_area_codes.csv").read_text(encoding="utf-8")
    assert REPORT.file_date == "11/26/2025"
    assert "NANPA NPA report (npa_report.csv) of 2025-11-26" in text


def test_the_phone_library_agrees_with_the_table() -> None:
    """Every code the library's geocoder puts in a state is in the table, in that state."""
    library = regenerate.library_table()
    assert len(library) > 300
    assert regenerate.disagreements(regenerate.us_table(REPORT), library) == []


def test_territories_and_canada_stay_out() -> None:
    for code in (787, 939, 340, 671, 684, 670, 416, 604, 273):
        assert code not in TABLE


@pytest.mark.parametrize(
    "text",
    [
        "<html><body>Service unavailable</body></html>",
        "File Date,11/26/2025\nNPA_ID,USE,LOCATION,COUNTRY,IN_SERVICE\n201,G,NJ,US,Y\n",
        "File Date,11/26/2025\nNPA,USE,PLACE\n",
    ],
)
def test_a_bad_download_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        regenerate.read_report(text)


def test_regenerate_leaves_the_table_alone_on_a_bad_report(tmp_path: Path) -> None:
    bad = tmp_path / "npa_report.csv"
    bad.write_text("<html>error</html>")
    out = tmp_path / "table.csv"
    out.write_text("kept\n")
    assert regenerate.main(["--nanpa", str(bad), "--out", str(out)]) == 1
    assert out.read_text() == "kept\n"
