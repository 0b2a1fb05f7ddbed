"""Assignment candidates come from storage, behind the assign permission."""

from __future__ import annotations

import pytest

from storage.errors import PermissionDenied
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
