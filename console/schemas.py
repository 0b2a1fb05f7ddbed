"""JSON schemas of the API's success answers, for the OpenAPI description (and
so for the conformance test, which checks every answer against them).

Objects allow more properties than listed: a client must ignore what it does
not know, so adding a field is not a breaking change.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
OPT_STR: Schema = {"type": ["string", "null"]}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
OPT_NUM: Schema = {"type": ["number", "null"]}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "description": "ISO 8601, UTC"}
OPT_TIME: Schema = {"type": ["string", "null"], "description": "ISO 8601, UTC"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    return {
        "type": "object",
        "required": sorted(required),
        "properties": {**required, **(optional or {})},
    }


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


DECISION = obj(
    {"legs": {"enum": ["both", "agent", "none"]}},
    {
        "autostart": BOOL,
        "agent_can_start": BOOL,
        "agent_can_stop": BOOL,
        "agent_can_pause": BOOL,
        "mode": OPT_STR,
        "announce": OPT_STR,
        "reasons": array(STR),
    },
)
CALL = obj(
    {
        "call_id": STR,
        "source": STR,
        "direction": STR,
        "agent": STR,
        "recording": BOOL,
        "paused": BOOL,
    },
    {
        "campaign": OPT_STR,
        "queue": OPT_STR,
        "customer_number": OPT_STR,
        "phase": STR,
        "decision": {"type": "object"},
        "segment_no": {"type": ["integer", "null"]},
        "segments_done": INT,
        "allowed": {"type": "object", "additionalProperties": OPT_STR},
        "post_transfer_mode": OPT_STR,
    },
)
CALL_LIST = obj({"calls": array(CALL)})
HEALTH = obj({"status": {"const": "ok"}}, {"calls": INT})  # calls: logged-in clients only
FILE = obj(
    {"kind": STR, "format": STR, "size_bytes": INT, "sha256": STR, "present": BOOL},
    {"uploaded": BOOL, "uploaded_at": OPT_TIME},
)
RECORDING = obj(
    {
        "id": STR,
        "call_id": STR,
        "segment_no": INT,
        "agent": STR,
        "started_at": TIME,
        "duration_seconds": NUM,
        "state": {"enum": ["assigned", "unassigned", "deleted"]},
        "record_ids": array(INT),
        "files": array(FILE),
    },
    {
        "campaign": OPT_STR,
        "queue": OPT_STR,
        "direction": STR,
        "customer_number_raw": OPT_STR,
        "customer_e164": OPT_STR,
        "ended_at": TIME,
        "legs": STR,
        "upload_state": STR,
        "legal_hold": BOOL,
        "flags": array(STR),
        "reasons": array(STR),
        "deleted_at": OPT_TIME,
    },
)
RECORDINGS = obj({"recordings": array(RECORDING)}, {"next_cursor": OPT_STR})
STORY = obj(
    {
        "recording": RECORDING,
        "story": obj(
            {
                "recording_id": STR,
                "call_id": STR,
                "decided_by": STR,
                "rules": array(obj({"id": STR, "text": STR})),
                "segments": array(obj({"id": STR, "segment_no": INT, "agent": STR, "this": BOOL})),
                "pauses": array(obj({"started_at": OPT_TIME, "ended_at": OPT_TIME})),
                "flags": array(STR),
                "verification": {"oneOf": [{"type": "null"}, obj({"outcome": STR, "reason": STR})]},
                "files": array(FILE),
                "upload_state": STR,
                "remote_verified_at": OPT_TIME,
                "audit": {
                    "oneOf": [
                        {"type": "null"},
                        array(obj({"at": TIME, "actor": STR, "action": STR})),
                    ]
                },
            },
            {
                "explanation": OPT_STR,
                "decided_now": OPT_STR,
                "legs_text": STR,
                "decided_by_text": STR,
            },
        ),
    }
)
WHAT_IF = obj(
    {
        "facts": {"type": "object"},
        "decision": DECISION,
        "decided_by": STR,
        "decided_by_text": STR,
        "explanation": STR,
    }
)
ALERTS = obj(
    {
        "upload": obj(
            {
                "alerts": array(obj({"code": STR, "message": STR, "raised_at": OPT_TIME})),
                "failing": array(obj({"remote_name": STR, "attempts": INT, "error": STR})),
                "pending": INT,
            }
        ),
        "verification": array(obj({"outcome": STR, "reason": STR, "checked_at": OPT_TIME})),
    }
)
