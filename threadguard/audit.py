"""The append-only audit log: every moderator and admin action, with who and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from threadguard.tables import AuditEntry


def record(session: Session, actor: str, action: str, target: str | None = None, **detail: Any) -> None:
    """Add one entry in the caller's transaction, so the action and its record commit together."""
    session.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))
