"""Assignment candidates come from storage, behind the assign permission."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from storage import matching
from storage.db import Database, _alembic_config, open_database, upgrade
from storage.errors import PermissionDenied
from storage.models import CrmPhone, CrmRecord
from storage.permissions import Actor
from storage.service import StorageService
from tests.storage.conftest import make_segment


async def test_candidates_exact_then_near_and_permission(service: StorageService, tmp_path) -> None:
    csv = tmp_path / "crm.csv"
    csv.write_text(
        "id,name,business_phone,home_phone,cell_phone\n"
        "c1,Exact,+15125550142,,\n"
        "c2,Near,+19725550142,,\n"
        "c3,Other,+19725559999,,\n"
    )
    admin = Actor.of("admin", "admin")
    await service.import_crm(admin, csv, "individual")
    seg = make_segment(tmp_path, number="+15125550142")
    rid = await service.accept_segment(seg)
    found = await service.candidates(Actor.of("qa", "assign", "view_history"), rid)
    assert [(c["name"], c["match"]) for c in found] == [("Exact", "exact"), ("Near", "near")]
    with pytest.raises(PermissionDenied):
        await service.candidates(Actor.of("viewer", "view_history"), rid)


# Numbers around +15125550142: exact, same last seven under other area codes
# and countries, one digit off in the last seven, too short, unreadable.
CRM_NUMBERS = {
    "exact": "+15125550142",
    "other_area": "+19725550142",
    "uk": "+442075550142",
    "eighth_differs": "+15105550142",
    "seventh_differs": "+15124550142",
    "last_differs": "+15125550143",
    "middle_differs": "+15125560142",
    "short": "+3555014",
    "unreadable": "not a number",
}


def near_reference(s: Session, e164: str) -> list[tuple[int, str]]:
    """What the candidates query selected before the indexed key: ``LIKE '%<last 7>'``."""
    rows = s.execute(
        select(CrmRecord.id, CrmPhone.e164)
        .join(CrmPhone, CrmPhone.record_id == CrmRecord.id)
        .where(or_(CrmPhone.e164 == e164, CrmPhone.e164.like(f"%{e164[-7:]}")))
        .order_by(CrmRecord.id)
    ).all()
    found: dict[int, str] = {}
    for rid, phone in rows:
        if phone == e164 or found.get(rid) != "exact":
            found[rid] = "exact" if phone == e164 else "near"
    return sorted(found.items(), key=lambda c: (c[1] != "exact", c[0]))


async def test_near_matches_are_those_of_the_like_query(
    service: StorageService, db: Database, tmp_path: Path
) -> None:
    csv = tmp_path / "crm.csv"
    lines = ["id,name,business_phone,home_phone,cell_phone"]
    lines += [f"{name},{name},{num},," for name, num in CRM_NUMBERS.items()]
    lines.append("two,Two phones,+15125550142,+16505550142,")  # exact and near on one record
    csv.write_text("\n".join(lines) + "\n")
    admin = Actor.of("admin", "admin")
    await service.import_crm(admin, csv, "individual")
    qa = Actor.of("qa", "assign", "view_history")

    seg = make_segment(tmp_path, number="+15125550142")
    found = await service.candidates(qa, await service.accept_segment(seg))
    assert [(c["name"], c["match"]) for c in found] == [
        ("exact", "exact"),
        ("Two phones", "exact"),
        ("other_area", "near"),
        ("uk", "near"),
        ("eighth_differs", "near"),
    ]
    two = next(c for c in found if c["name"] == "Two phones")
    assert sorted(p["e164"] for p in two["phones"]) == ["+15125550142", "+16505550142"]

    with db.session() as s:
        for number in [*CRM_NUMBERS.values(), "+16505550142", "+15125550199"]:
            if number.startswith("+") and len(number) >= 8:
                got = [(c["id"], c["match"]) for c in matching.candidates(s, number)]
                assert got == near_reference(s, number), number
        assert matching.candidates(s, "+355501") == []  # too short to compare
        assert matching.candidates(s, None) == []


async def test_migration_fills_the_near_key_of_existing_phones(db_url: str) -> None:
    db = open_database(db_url)
    try:
        with db.engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0002")
        with db.session() as s:
            s.execute(
                text(
                    "INSERT INTO crm_records (id, kind, external_id, name, source, created_at, "
                    "updated_at) VALUES (1, 'individual', 'r1', 'Old', 'file', :t, :t)"
                ),
                {"t": datetime(2024, 5, 1)},
            )
            for field, e164 in (("cell", "+19725550142"), ("home", None), ("business", "+3555")):
                s.execute(
                    text(
                        "INSERT INTO crm_phones (record_id, record_kind, field, e164, raw) "
                        "VALUES (1, 'individual', :f, :e, 'x')"
                    ),
                    {"f": field, "e": e164},
                )
        upgrade(db.engine)
        with db.session() as s:
            keys = s.execute(text("SELECT field, e164_last7 FROM crm_phones ORDER BY field")).all()
            assert [tuple(k) for k in keys] == [
                ("business", None),
                ("cell", "5550142"),
                ("home", None),
            ]
            assert [(c["id"], c["match"]) for c in matching.candidates(s, "+15125550142")] == [
                (1, "near")
            ]
    finally:
        db.dispose()


async def test_exact_match_is_never_crowded_out_by_near_ones(
    service: StorageService, tmp_path: Path
) -> None:
    """60 records share the last seven digits; the one exact match has the highest id."""
    lines = ["id,name,business_phone,home_phone,cell_phone"]
    lines += [f"n{i},Near {i},+1{201 + i}5550142,," for i in range(60)]
    lines.append("x,Exact,+15125550142,,")
    csv = tmp_path / "crowd.csv"
    csv.write_text("\n".join(lines) + "\n")
    await service.import_crm(Actor.of("admin", "admin"), csv, "individual")
    rid = await service.accept_segment(make_segment(tmp_path, number="+15125550142"))
    found = await service.candidates(Actor.of("qa", "assign", "view_history"), rid)
    assert (found[0]["name"], found[0]["match"]) == ("Exact", "exact")
    assert len(found) == 20 and all(c["match"] == "near" for c in found[1:])
