"""Which model the service must serve, recorded in the database so that every replica follows it.

`activate` checks a model dir by loading it and scoring a warm-up comment before recording it, so a broken
dir (missing file, wrong labels, corrupt weights) is refused up front; replicas check again when they load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from threadguard import audit
from threadguard.errors import UsageError
from threadguard.tables import ModelAssignment

LIVE = "live"
SHADOW = "shadow"


@dataclass(frozen=True)
class Assignment:
    id: int
    role: str
    path: Path | None  # None: a shadow switched off
    name: str | None
    version: str | None


def _as_assignment(row: ModelAssignment | None) -> Assignment | None:
    if row is None:
        return None
    return Assignment(row.id, row.role, Path(row.model_path) if row.model_path else None, row.model_name, row.model_version)


def latest(session: Session, role: str) -> Assignment | None:
    """The newest assignment of a role, or None when none was ever made."""
    row = session.scalars(select(ModelAssignment).where(ModelAssignment.role == role).order_by(ModelAssignment.id.desc()).limit(1)).first()
    return _as_assignment(row)


def model_dirs(models_root: Path) -> list[Path]:
    """The model dirs under the models root, by name (links such as models/current are not dirs of their own)."""
    if not models_root.is_dir():
        return []
    return sorted(p for p in models_root.iterdir() if p.is_dir() and not p.is_symlink() and (p / "config.json").is_file())


def resolve_model_path(name: str, models_root: Path) -> Path:
    """NAME is a directory under the models root, or a path to a model dir."""
    given = Path(name)
    for candidate in (given, models_root / name):
        if candidate.is_dir():
            return candidate.resolve()
    raise UsageError(f"no model dir {name!r} (looked in {models_root} and at that path)")


def check_model_dir(path: Path) -> tuple[str, str]:
    """Load the dir on CPU and score one comment; returns (name, version) or raises ArtifactError."""
    from serving.model import open_scorer, warm_up

    scorer = open_scorer(path, device="cpu")
    warm_up(scorer)
    return scorer.name, scorer.version


def assign(session: Session, role: str, path: Path | None, *, actor: str) -> Assignment:
    """Record the model every replica must serve as `role` (path None turns the shadow off). Checks the dir first."""
    name = version = None
    if path is not None:
        name, version = check_model_dir(path)
    row = ModelAssignment(role=role, model_path=str(path) if path else None, model_name=name, model_version=version, actor=actor)
    session.add(row)
    session.flush()
    audit.record(session, actor, f"model.{role}", str(path) if path else None, name=name, version=version)
    return _as_assignment(row)  # type: ignore[return-value]


def rollback(session: Session, *, actor: str) -> Assignment:
    """Make the live model the one that was live before the current one."""
    rows = session.scalars(select(ModelAssignment).where(ModelAssignment.role == LIVE).order_by(ModelAssignment.id.desc())).all()
    if not rows:
        raise UsageError("no model was ever activated, so there is nothing to roll back to")
    current = rows[0].model_path
    previous = next((r for r in rows[1:] if r.model_path != current), None)
    if previous is None or previous.model_path is None:
        raise UsageError(f"no earlier live model than {current} to roll back to")
    return assign(session, LIVE, Path(previous.model_path), actor=actor)
