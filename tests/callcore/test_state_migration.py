"""Persisted call state: typed, versioned, migrated on load, salvaged when unreadable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from callcore.machine import resume
from callcore.state import (
    SCHEMA_VERSION,
    CallState,
    Consultation,
    PendingTransfer,
    TransferWait,
)
from callcore.state_migrate import UNREADABLE_FLAG
from callcore.state_store import StateStore
from policy import Decision

FIXTURES = Path(__file__).parent / "fixtures"  # written by the version before the typed state


def _store_with(tmp_path: Path, *names: str) -> StateStore:
    store = StateStore(tmp_path / "state")
    for name in names:
        data = json.loads((FIXTURES / name).read_text())
        call_id = data["call_id"]
        (store.directory / f"{call_id}.json").write_text(json.dumps(data))
    return store


def test_v1_stasis_file_is_migrated_to_typed_fields(tmp_path: Path) -> None:
    (call,) = _store_with(tmp_path, "state_v1_ari.json").load_all()
    assert isinstance(call.decision, Decision) and call.decision.mode == "all_calls"
    assert call.in_bridge == ["customer", "agent"]
    assert call.refusals == ["action.stop_forbidden"]
    assert call.continue_flag == "1" and call.announcement == "beep"
    assert call.segments == 1
    seg = call.segment
    assert seg is not None and isinstance(seg.decision, Decision)
    assert seg.decision.reasons == ("mode.all_calls", "consent.one_party")
    assert seg.pauses == [[1764600004.0, 1764600004.5]]
    assert set(seg.captures) == {"agent", "customer"}
    assert not hasattr(call, "extra")


def test_v1_dialplan_file_is_migrated_to_typed_fields(tmp_path: Path) -> None:
    (call,) = _store_with(tmp_path, "state_v1_agi.json").load_all(source="agi")
    assert call.consult == Consultation("1764600101.20", "PJSIP/2002-00000006", "2002", False)
    assert call.last_transfer == "BlindTransfer" and call.transfer is None
    assert call.continue_recording is True and call.mixmonitor_id == "0x7f00aa"
    assert call.agent_uniqueid == "1764600100.12"
    assert call.segments == 2 and call.segment is not None and call.segment.segment_no == 2


def test_v2_dialplan_file_mid_consultation_resumes_consulting(tmp_path: Path) -> None:
    # Written by the version-2 code: it saved the consultation but not the machine's state.
    (call,) = _store_with(tmp_path, "state_v2_agi_consulting.json").load_all(source="agi")
    assert call.consult is not None and call.consult.agent == "2002"
    assert call.consulting == TransferWait("2002", False, consult=True)
    state = resume(call)
    assert state.label == "consulting (segment runs)" and state.ctx.agent == "1001"


def test_current_version_round_trips(tmp_path: Path) -> None:
    store = _store_with(tmp_path, "state_v1_ari.json")
    (call,) = store.load_all()
    call.transfer = PendingTransfer("a2", True, "x-a2")
    call.consulting = TransferWait("a2", True, consult=True)
    # The consulted agent's provisional decision survives too.
    call.consult = Consultation("u2", "PJSIP/a2-1", "a2", True, decision=call.decision)
    store.save(call)
    raw = json.loads((store.directory / f"{call.call_id}.json").read_text())
    assert raw["schema_version"] == SCHEMA_VERSION and "extra" not in raw
    (again,) = store.load_all()
    assert again == call
    assert oct((store.directory / f"{call.call_id}.json").stat().st_mode & 0o777) == "0o600"


def test_unreadable_live_call_is_salvaged_and_flagged(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "state_v1_ari.json").read_text())
    data["decision"] = "garbage"  # what a bad edit or a bug could leave
    data["schema_version"] = SCHEMA_VERSION
    store = StateStore(tmp_path / "state")
    path = store.directory / f"{data['call_id']}.json"
    path.write_text(json.dumps(data))
    (call,) = store.load_all()
    assert call.flags == [UNREADABLE_FLAG]
    assert call.segment is not None and set(call.segment.captures) == {"agent", "customer"}
    assert call.channels["agent"].endswith("-a1")
    assert path.with_suffix(".corrupt").exists()  # kept for the admin
    assert CallState.from_dict(json.loads(path.read_text())) == call  # readable from now on


def test_file_from_a_newer_version_is_salvaged_not_misread(tmp_path: Path) -> None:
    data = json.loads((FIXTURES / "state_v1_agi.json").read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    store = StateStore(tmp_path / "state")
    (store.directory / f"{data['call_id']}.json").write_text(json.dumps(data))
    (call,) = store.load_all()
    assert call.flags == [UNREADABLE_FLAG] and call.segment is not None


def test_truncated_file_without_captures_is_set_aside(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    shutil.copy(FIXTURES / "state_v1_ari.json", store.directory / "abc.json")
    (store.directory / "abc.json").write_text('{"call_id": "abc", "segm')
    assert store.load_all() == []
    assert (store.directory / "abc.corrupt").exists()
    assert not (store.directory / "abc.json").exists()
