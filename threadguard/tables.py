"""SQLAlchemy tables: comments, scores, queue items, decisions, users, API keys, the audit log, app secrets.

The schema itself is owned by the Alembic migrations in threadguard/migrations; these classes must match them
(tests/integration/test_storage.py compares the two).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    """Declarative base of every threadguard table."""


class ModelActivation(Base):
    """One row each time a service process starts serving a model: which model answered when."""

    __tablename__ = "model_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(100))
    model_path: Mapped[str] = mapped_column(Text)
    activated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ModelAssignment(Base):
    """Append-only record of which model every replica must serve (role live) or run in shadow (role shadow).

    The newest row of a role wins; a shadow row with no path turns the shadow off. `threadguard models
    activate/rollback/shadow` write rows; each service replica polls the newest rows and swaps to match.
    """

    __tablename__ = "model_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(10), index=True)
    model_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    model_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model_version: Mapped[str | None] = mapped_column(String(100), nullable=True)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StoredComment(Base):
    """A comment as received, with the context it was scored in. body is NULL once retention has erased it."""

    __tablename__ = "comments"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    thread_id: Mapped[str | None] = mapped_column(String(200), index=True)
    author: Mapped[str | None] = mapped_column(String(200), index=True)
    body: Mapped[str | None] = mapped_column(Text)
    article_title: Mapped[str | None] = mapped_column(Text)
    article_text: Mapped[str | None] = mapped_column(Text)
    parent_body: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    erased_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class CommentScore(Base):
    """One model version's scores and decision for a comment."""

    __tablename__ = "scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    comment_id: Mapped[str] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(100))
    hate: Mapped[float] = mapped_column(Float)
    insult: Mapped[float] = mapped_column(Float)
    off_topic: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(20))
    scored_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QueueItem(Base):
    """A comment waiting for (or past) a moderator. status: pending | reported | decided."""

    __tablename__ = "queue_items"
    __table_args__ = (Index("ix_queue_status_score", "status", "top_score"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    comment_id: Mapped[str] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    reason: Mapped[str] = mapped_column(Text)
    top_label: Mapped[str] = mapped_column(String(40))
    top_score: Mapped[float] = mapped_column(Float)
    uncertainty: Mapped[float] = mapped_column(Float, default=0.0)
    labelling: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claim_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ModeratorDecision(Base):
    """A moderator's verdict on a queue item, with the labels it implies. undone marks an undo (rows are never deleted)."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("queue_items.id", ondelete="CASCADE"), index=True)
    comment_id: Mapped[str] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"), index=True)
    moderator: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(20))  # approve | reject | relabel
    hate: Mapped[int] = mapped_column(Integer)
    insult: Mapped[int] = mapped_column(Integer)
    off_topic: Mapped[int] = mapped_column(Integer)
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    previous_status: Mapped[str] = mapped_column(String(20))  # where undo puts the item back
    undone: Mapped[bool] = mapped_column(Boolean, default=False)


class User(Base):
    """A moderator or admin of the page; password_hash is argon2."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))  # moderator | admin
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiKey(Base):
    """A scoring-API key: only its SHA-256 is stored; prefix identifies it in lists and logs."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    prefix: Mapped[str] = mapped_column(String(20))
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    site: Mapped[str | None] = mapped_column(String(200), nullable=True)  # whose review/reject thresholds decide its requests


class SiteThreshold(Base):
    """An admin's review/reject thresholds for one label on one site (a forum of the network), overriding the model's."""

    __tablename__ = "site_thresholds"
    __table_args__ = (Index("ix_site_thresholds_site_label", "site", "label", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(20))
    review: Mapped[float] = mapped_column(Float)
    reject: Mapped[float] = mapped_column(Float)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SuggestedScore(Base):
    """A forum's suggested score for a comment (Perspective's SuggestCommentScore): a label for the next training run."""

    __tablename__ = "suggested_scores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    comment_id: Mapped[str] = mapped_column(String(200), index=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)  # erased with the comment's retention like stored comments
    article_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    parent_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    attribute: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    community_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    client: Mapped[str] = mapped_column(String(200))
    client_token: Mapped[str | None] = mapped_column(String(200), nullable=True)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class AuditEntry(Base):
    """Append-only record of every moderator and admin action: who, what, on which target, when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class AppSecret(Base):
    """Secrets every replica must share (the session-signing key, the one-time setup token)."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
