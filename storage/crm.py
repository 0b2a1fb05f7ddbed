"""CRM records and their phone index.

Three kinds share one table: ``individual`` and ``agent`` records carry
business, home and cell phones; legacy ``sales`` records carry phone and cell.
Every number goes through the same E.164 normalisation as recordings, into
``crm_phones``, which is what matching joins on. A number that cannot be read
is kept raw-only (``e164`` NULL: visible, never matched) and reported with its
line, so an import never silently drops data.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, inspect, select, text
from sqlalchemy.orm import Session

from storage.config import CrmTableMapping
from storage.db import normalise_url
from storage.errors import ImportFailed
from storage.models import CrmPhone, CrmRecord
from storage.phones import near_key, to_e164
from storage.timeutil import utcnow

PHONE_FIELDS: dict[str, tuple[str, ...]] = {
    "individual": ("business", "home", "cell"),
    "agent": ("business", "home", "cell"),
    "sales": ("phone", "cell"),
}
# Column names accepted in files for each phone field.
ALIASES: dict[str, tuple[str, ...]] = {
    "business": ("business_phone", "business", "work_phone"),
    "home": ("home_phone", "home"),
    "cell": ("cell_phone", "cell", "mobile", "mobile_phone"),
    "phone": ("phone", "phone_number"),
}


@dataclass(frozen=True)
class Problem:
    line: int
    field: str
    value: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}={self.value!r}: {self.message}"


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    phones: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    line: int
    external_id: str
    name: str | None
    phones: dict[str, str]


def _rows_from_dicts(items: Iterable[tuple[int, dict[str, Any]]], kind: str) -> Iterator[Row]:
    for line, item in items:
        lowered = {str(k).strip().lower(): v for k, v in item.items()}
        rid = lowered.get("id", lowered.get("external_id"))
        name = lowered.get("name")
        phones: dict[str, str] = {}
        for fld in PHONE_FIELDS[kind]:
            for alias in ALIASES[fld]:
                val = lowered.get(alias)
                if val not in (None, ""):
                    phones[fld] = str(val)
                    break
        yield Row(line, "" if rid is None else str(rid).strip(), name and str(name), phones)


def read_file(path: Path, kind: str, fmt: str | None = None) -> Iterator[Row]:
    """Rows of a CSV (header line required) or JSON (a list of objects) file."""
    if kind not in PHONE_FIELDS:
        raise ImportFailed(f"unknown record kind {kind!r}; use one of {sorted(PHONE_FIELDS)}")
    fmt = fmt or path.suffix.lstrip(".").lower()
    if not path.is_file():
        raise ImportFailed(f"{path}: file not found")
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "id" not in [f.strip().lower() for f in reader.fieldnames]:
                raise ImportFailed(f"{path}: line 1: header must have an 'id' column")
            # line numbers as an editor shows them: header is line 1
            yield from _rows_from_dicts(((reader.line_num, r) for r in reader), kind)
    elif fmt == "json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ImportFailed(f"{path}: line {exc.lineno}: {exc.msg}") from exc
        if isinstance(data, dict) and isinstance(data.get("records"), list):
            data = data["records"]
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise ImportFailed(f"{path}: expected a list of objects")
        # JSON has no useful line numbers per object: report the 1-based item index.
        yield from _rows_from_dicts(enumerate(data, start=1), kind)
    else:
        raise ImportFailed(f"{path}: unknown format {fmt!r}; use csv or json")


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def read_table(mapping: CrmTableMapping, default_url: str) -> Iterator[Row]:
    """Rows from an existing table; identifiers are checked against the real columns."""
    engine = create_engine(normalise_url(mapping.url or default_url))
    try:
        schema, _, table = mapping.table.rpartition(".")
        if not _IDENT.match(mapping.table):
            raise ImportFailed(f"bad table name {mapping.table!r}")
        cols = {c["name"] for c in inspect(engine).get_columns(table, schema=schema or None)}
        wanted = [mapping.id_column, *mapping.phones.values()]
        if mapping.name_column:
            wanted.append(mapping.name_column)
        unknown = [c for c in wanted if c not in cols]
        if unknown:
            raise ImportFailed(f"table {mapping.table} has no column(s) {', '.join(unknown)}")
        bad = set(mapping.phones) - set(PHONE_FIELDS[mapping.kind])
        if bad:
            raise ImportFailed(f"phone field(s) {sorted(bad)} do not exist for {mapping.kind}")
        q = engine.dialect.identifier_preparer.quote
        select_cols = ", ".join(q(c) for c in wanted)
        table_sql = ".".join(q(p) for p in mapping.table.split("."))
        with engine.connect() as conn:
            res = conn.execute(text(f"SELECT {select_cols} FROM {table_sql}"))
            for n, row in enumerate(res, start=1):
                m = row._mapping
                phones = {f: str(m[c]) for f, c in mapping.phones.items() if m[c] not in (None, "")}
                name = str(m[mapping.name_column]) if mapping.name_column else None
                yield Row(n, str(m[mapping.id_column]), name, phones)
    finally:
        engine.dispose()


def import_rows(
    session: Session, rows: Iterable[Row], kind: str, *, region: str = "US", source: str = "file"
) -> ImportResult:
    """Upsert records by (kind, external id) and rebuild their phone index rows."""
    result = ImportResult()
    now = utcnow()
    for row in rows:
        if not row.external_id:
            result.skipped += 1
            result.problems.append(Problem(row.line, "id", "", "missing id; row skipped"))
            continue
        rec = session.scalar(
            select(CrmRecord).where(
                CrmRecord.kind == kind, CrmRecord.external_id == row.external_id
            )
        )
        if rec is None:
            rec = CrmRecord(
                kind=kind,
                external_id=row.external_id,
                name=row.name,
                source=source,
                created_at=now,
                updated_at=now,
            )
            session.add(rec)
            session.flush()
            result.created += 1
        else:
            rec.name = row.name
            rec.updated_at = now
            session.execute(delete(CrmPhone).where(CrmPhone.record_id == rec.id))
            result.updated += 1
        for fld, raw in row.phones.items():
            e164 = to_e164(raw, region)
            if e164 is None:
                result.problems.append(
                    Problem(row.line, fld, raw, "not a phone number; kept raw, never matched")
                )
            session.add(
                CrmPhone(
                    record_id=rec.id,
                    record_kind=kind,
                    field=fld,
                    e164=e164,
                    raw=raw,
                    e164_last7=near_key(e164),
                )
            )
            result.phones += 1
    session.flush()
    return result
