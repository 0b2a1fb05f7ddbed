"""The US area-code table: which state each geographic area code belongs to.

Shipped as ``policy/data/us_area_codes.csv`` (source and date in its header)
and extendable by admins through ``[consent] area_code_file`` so a new overlay
is handled without waiting for a release.
"""

from __future__ import annotations

import functools
from importlib import resources

from policy.errors import ConfigIssue
from policy.us_states import US_STATES

SHIPPED_NAME = "us_area_codes.csv"


def parse_table(text: str, source: str) -> tuple[dict[int, str], list[ConfigIssue]]:
    """Parse ``area_code,state`` rows; ``#`` comments and a header row allowed."""
    table: dict[int, str] = {}
    issues: list[ConfigIssue] = []
    seen: dict[int, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(",")]
        if parts[0].lower() == "area_code":
            continue
        if len(parts) != 2:
            issues.append(
                ConfigIssue(source, "", f"expected 'area_code,state', got {raw.strip()!r}", lineno)
            )
            continue
        code, state = parts[0], parts[1].upper()
        if not (len(code) == 3 and code.isdigit() and code[0] in "23456789"):
            issues.append(
                ConfigIssue(
                    source, "", f"bad area code {code!r}; allowed: three digits, 200-999", lineno
                )
            )
            continue
        if state not in US_STATES:
            issues.append(
                ConfigIssue(
                    source,
                    "",
                    f"unknown US state code {parts[1]!r}; allowed: two-letter USPS codes "
                    "of the 50 states and DC",
                    lineno,
                )
            )
            continue
        key = int(code)
        if key in seen and table[key] != state:
            issues.append(
                ConfigIssue(
                    source,
                    "",
                    f"area code {code} listed twice with different states "
                    f"(line {seen[key]}: {table[key]})",
                    lineno,
                )
            )
            continue
        seen[key] = lineno
        table[key] = state
    return table, issues


@functools.cache
def shipped_table() -> dict[int, str]:
    text = resources.files("policy.data").joinpath(SHIPPED_NAME).read_text(encoding="utf-8")
    table, issues = parse_table(text, SHIPPED_NAME)
    if issues:  # a broken shipped file is a packaging bug, not an admin error
        raise RuntimeError("; ".join(str(i) for i in issues))
    return table
