"""Rebuild ``us_area_codes.csv`` from NANPA's NPA report, checked against phonenumbers.

NANPA (the North American Numbering Plan Administrator) publishes every area
code with its use, location and service status as ``npa_report.csv`` (NANPA
web site: Reports, NPA database). That report is the authority: the table is
every general-purpose (``USE`` G) code whose ``COUNTRY`` is US and whose
``LOCATION`` is one of the 50 states or DC, in service or already assigned
and announced (so numbers in a new overlay work from its first day).
Territories (PR, VI, GU, AS, CNMI) stay out: the policy treats them as their
own regions.

``policy/data/nanpa_npa_report.csv`` is the report this table was built
from, trimmed to the columns read here (its first line keeps NANPA's file
date). To refresh:

    python -m policy.data.regenerate --nanpa ~/npa_report.csv \\
        --keep policy/data/nanpa_npa_report.csv --out policy/data/us_area_codes.csv

(``--out`` is written only when the report was read whole, so a failed
download never empties the table.)

The phone-number library's geocoder is a second opinion: codes it places in
a state that NANPA does not list, or places in another state, are printed on
stderr for a human to look at (the library lags NANPA by months).
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

STATE_NAMES: dict[str, str] = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR",
    "California": "CA", "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE",
    "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID",
    "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
    "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD",
    "Massachusetts": "MA", "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS",
    "Missouri": "MO", "Montana": "MT", "Nebraska": "NE", "Nevada": "NV",
    "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY",
    "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
    "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT",
    "Vermont": "VT", "Virginia": "VA", "Washington State": "WA",
    "Washington D.C.": "DC", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip
STATES = frozenset(STATE_NAMES.values())

SHIPPED_REPORT = Path(__file__).with_name("nanpa_npa_report.csv")
# The columns kept in the shipped copy of the report (NANPA's own names).
KEPT_COLUMNS = (
    "NPA_ID", "USE", "LOCATION", "COUNTRY", "ASSIGNED", "IN_SERVICE", "IN_SERVICE_DT",
    "OVERLAY_COMPLEX",
)  # fmt: skip

_SUFFIX = re.compile(r", ([A-Z]{2})$")


@dataclass(frozen=True)
class Report:
    file_date: str  # NANPA's "File Date" line, e.g. 11/26/2025
    rows: list[dict[str, str]]


def read_report(text: str) -> Report:
    """Parse a NANPA NPA report (full or trimmed); refuse anything else loudly."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].startswith("File Date,"):
        raise ValueError("not a NANPA NPA report: the first line should be 'File Date,MM/DD/YYYY'")
    rows = list(csv.DictReader(lines[1:]))
    missing = [c for c in ("NPA_ID", "USE", "LOCATION", "COUNTRY", "IN_SERVICE") if rows
               and c not in rows[0]]  # fmt: skip
    if not rows or missing:
        raise ValueError(f"NANPA report without the expected columns (missing {missing})")
    if len(rows) < 700:
        raise ValueError(f"NANPA report implausibly short ({len(rows)} codes); not used")
    return Report(lines[0].split(",", 1)[1].strip(), rows)


def us_table(report: Report) -> dict[str, str]:
    """Area code -> state for US general-purpose codes in service or assigned to a state."""
    table: dict[str, str] = {}
    for row in report.rows:
        if row["USE"] != "G" or row["COUNTRY"] != "US" or row["LOCATION"] not in STATES:
            continue
        if row["IN_SERVICE"] == "Y" or row.get("ASSIGNED", "Yes") == "Yes":
            table[row["NPA_ID"]] = row["LOCATION"]
    return dict(sorted(table.items()))


def not_yet_in_service(report: Report) -> list[str]:
    return sorted(
        r["NPA_ID"]
        for r in report.rows
        if r["USE"] == "G" and r["COUNTRY"] == "US" and r["LOCATION"] in STATES
        and r["IN_SERVICE"] != "Y"
    )  # fmt: skip


def trimmed(report: Report) -> str:
    out = io.StringIO()
    out.write(f"File Date,{report.file_date}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KEPT_COLUMNS)
    for row in report.rows:
        writer.writerow([row.get(c, "") for c in KEPT_COLUMNS])
    return out.getvalue()


def state_of(description: str) -> str | None:
    match = _SUFFIX.search(description)
    code = match.group(1) if match else STATE_NAMES.get(description)
    return code if code in STATES else None


def library_table() -> dict[str, str]:
    """Area code -> state as the phone-number library's geocoder sees it (majority vote)."""
    from phonenumbers.geodata import GEOCODE_DATA

    votes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for prefix, names in GEOCODE_DATA.items():
        if not prefix.startswith("1") or len(prefix) < 4:
            continue
        state = state_of(names.get("en", ""))
        if state is not None:
            votes[prefix[1:4]][state] += 1
    return {code: counter.most_common(1)[0][0] for code, counter in votes.items()}


def disagreements(table: dict[str, str], library: dict[str, str]) -> list[str]:
    """What the library says that NANPA does not: for a human to look at."""
    notes = [
        f"{code}: the library places it in {library[code]}, NANPA does not list it as US"
        for code in sorted(set(library) - set(table))
    ]
    notes += [
        f"{code}: NANPA says {table[code]}, the library says {library[code]}"
        for code in sorted(set(library) & set(table))
        if library[code] != table[code]
    ]
    return notes


def render(report: Report, table: dict[str, str], library_version: str, notes: int) -> str:
    file_date = datetime.datetime.strptime(report.file_date, "%m/%d/%Y").date().isoformat()
    pending = not_yet_in_service(report)
    head = [
        "# US geographic area codes (50 states + DC, overlays included) -> USPS state code.",
        f"# Source: NANPA NPA report (npa_report.csv) of {file_date}: USE G, COUNTRY US,",
        "# LOCATION a state or DC, in service or assigned (kept in nanpa_npa_report.csv);",
        f"# checked against phonenumbers {library_version} geocoder data ({notes} disagreement(s)",
        "# printed for review when generated; NANPA's answer is the one kept).",
        f"# Assigned, not yet in service on that date: {' '.join(pending) or 'none'}.",
        f"# Generated {datetime.date.today().isoformat()} by `python -m policy.data.regenerate`"
        " (see docs/POLICY.md).",
        "# Non-geographic codes (toll-free, 5XX, 700, 900) and territories are not listed.",
        "# Admins can extend or correct this table without a release:",
        "# [consent] area_code_file in callrec.toml.",
        "area_code,state",
    ]
    return "\n".join(head + [f"{c},{s}" for c, s in table.items()]) + "\n"


def main(argv: list[str] | None = None) -> int:
    import phonenumbers

    parser = argparse.ArgumentParser(prog="python -m policy.data.regenerate")
    parser.add_argument("--nanpa", type=Path, default=SHIPPED_REPORT, help="NANPA npa_report.csv")
    parser.add_argument("--keep", type=Path, help="write the trimmed report here")
    parser.add_argument("--out", type=Path, help="write the table here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        report = read_report(args.nanpa.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as exc:
        print(f"regenerate: {args.nanpa}: {exc}; the table was left as it was", file=sys.stderr)
        return 1
    table = us_table(report)
    notes = disagreements(table, library_table())
    for note in notes:
        print(f"regenerate: check: {note}", file=sys.stderr)
    if args.keep:
        args.keep.write_text(trimmed(report), encoding="utf-8")
    text = render(report, table, phonenumbers.__version__, len(notes))
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"regenerate: wrote {len(table)} area codes to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
