"""Rebuild ``us_area_codes.csv`` from the phone-number library's geocoder data.

Run ``python -m policy.data.regenerate > policy/data/us_area_codes.csv`` after
upgrading ``phonenumbers``. The library's geocoder describes each NANP prefix
in words ("New Hampshire", "San Francisco, CA", "Washington State"); this maps
every description to a two-letter code and keeps the 50 states and DC only, so
Canada and the Caribbean +1 regions stay international. Overlays the library
does not know yet are appended from ``HAND_ADDED``; drop an entry from there
once the library has caught up (the generator says so on stderr).
"""

from __future__ import annotations

import collections
import datetime
import re
import sys

import phonenumbers
from phonenumbers.geodata import GEOCODE_DATA

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

# Overlays in service (or announced) that phonenumbers 9.0.43 still rejects.
# (area code, state, the codes it overlays)
HAND_ADDED: tuple[tuple[str, str, str], ...] = (
    ("357", "CA", "overlay of 559"),
    ("436", "OH", "overlay of 440"),
    ("624", "NY", "overlay of 716"),
    ("679", "MI", "overlay of 313"),
    ("861", "IL", "overlay of 815/779"),
)

_SUFFIX = re.compile(r", ([A-Z]{2})$")


def state_of(description: str) -> str | None:
    match = _SUFFIX.search(description)
    code = match.group(1) if match else STATE_NAMES.get(description)
    return code if code in STATE_NAMES.values() else None


def build() -> dict[str, str]:
    votes: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for prefix, names in GEOCODE_DATA.items():
        if not prefix.startswith("1") or len(prefix) < 4:
            continue
        state = state_of(names.get("en", ""))
        if state is not None:
            votes[prefix[1:4]][state] += 1
    table = {code: counter.most_common(1)[0][0] for code, counter in votes.items()}
    for code, state, _note in HAND_ADDED:
        if code in table:
            print(f"{code} is now in the library's data; drop it from HAND_ADDED", file=sys.stderr)
        table[code] = state
    return dict(sorted(table.items()))


def main() -> None:
    table = build()
    today = datetime.date.today().isoformat()
    print("# US geographic area codes (50 states + DC, overlays included) -> USPS state code.")
    print(f"# Source: phonenumbers {phonenumbers.__version__} geocoder data (libphonenumber),")
    print(f"# generated {today} by `python -m policy.data.regenerate`;")
    print("# added by hand (newer than that data, from NANPA overlay announcements):")
    for code, state, note in HAND_ADDED:
        print(f"#   {code} {state} ({note})")
    print("# Non-geographic codes (toll-free, 5XX, 700, 900) are not listed: they are")
    print("# US numbers with an unknown state. Admins can extend or correct this table")
    print("# without a release: [consent] area_code_file in callrec.toml.")
    print("area_code,state")
    for code, state in table.items():
        print(f"{code},{state}")


if __name__ == "__main__":
    main()
