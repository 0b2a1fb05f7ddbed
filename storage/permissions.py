"""Who may do what. Checked inside the storage API, not only in the web layer,
so the CLI, jobs and any future caller get the same rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from storage.errors import PermissionDenied


class Permission(StrEnum):
    VIEW_HISTORY = "view_history"  # assigned recordings (communication history)
    VIEW_UNASSIGNED = "view_unassigned"
    ASSIGN = "assign"
    DELETE_UNASSIGNED = "delete_unassigned"
    ADMIN = "admin"  # retention, holds, erasure; implies all the others


@dataclass(frozen=True)
class Actor:
    """The person or job on whose behalf a call is made; ``name`` goes to the audit log."""

    name: str
    permissions: frozenset[Permission] = field(default_factory=frozenset)
    # A user tied to one agent sees (and acts on) that agent's recordings only.
    agent: str | None = None

    @classmethod
    def of(cls, name: str, *perms: Permission | str, agent: str | None = None) -> Actor:
        return cls(name, frozenset(Permission(p) for p in perms), agent)

    @property
    def agent_scope(self) -> str | None:
        """The one agent whose recordings this actor may touch; None: any (admins always)."""
        return None if Permission.ADMIN in self.permissions else self.agent

    def has(self, perm: Permission) -> bool:
        return Permission.ADMIN in self.permissions or perm in self.permissions

    def require(self, perm: Permission, what: str = "") -> None:
        if not self.has(perm):
            suffix = f" to {what}" if what else ""
            raise PermissionDenied(f"{self.name} lacks permission '{perm.value}'{suffix}")


SYSTEM = Actor("system", frozenset({Permission.ADMIN}))


def listable_states(actor: Actor, state: str | None) -> list[str]:
    """Recording states ``actor`` may list; an explicit state it may not see is refused.

    Assigned recordings need ``view_history``, unassigned ones
    ``view_unassigned``; tombstones go with either.
    """
    from storage.models import ASSIGNED, DELETED, UNASSIGNED

    allowed: list[str] = []
    if actor.has(Permission.VIEW_HISTORY):
        allowed.append(ASSIGNED)
    if actor.has(Permission.VIEW_UNASSIGNED):
        allowed.append(UNASSIGNED)
    if allowed:
        allowed.append(DELETED)
    if state is not None:
        if state not in allowed:
            actor.require(
                Permission.VIEW_HISTORY if state == ASSIGNED else Permission.VIEW_UNASSIGNED,
                f"list {state} recordings",
            )
        return [state]
    if not allowed:
        actor.require(Permission.VIEW_HISTORY, "list recordings")
    return allowed
