"""PostgreSQL roles: migrations under an owner, the service under a narrower role.

The service's role must not own the tables: an owner can drop the audit
log's triggers and then rewrite or delete entries. Under the grants below it
may read and write every table as before, but on ``audit_log`` only SELECT,
INSERT and the erasure's redaction (UPDATE of ``record_id``, ``detail`` and
``salt``, which a trigger further limits to the redaction itself); DELETE,
TRUNCATE, other UPDATEs and DDL are refused by the database.
"""

from __future__ import annotations

import re

from storage.models import AuditEntry, Base

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def service_role_grants(role: str) -> list[str]:
    """SQL to run as the owner (after ``callrec db upgrade``) for service role ``role``."""
    if not _ROLE.match(role):
        raise ValueError("role names use lower-case letters, digits and '_'")
    audit = AuditEntry.__tablename__
    others = sorted(t for t in Base.metadata.tables if t != audit)
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT ON alembic_version TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(others)} TO {role}",
        f"GRANT SELECT, INSERT ON {audit} TO {role}",
        f"GRANT UPDATE (record_id, detail, salt) ON {audit} TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ]
