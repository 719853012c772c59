"""Retention and erasure of comment text.

Retention blanks the text of comments older than the retention period (body, article and parent text);
scores, decisions and the labels they imply stay, so exported training labels keep what was already
exported. `forget_author` deletes one author's comments with their scores, queue items and decisions.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from threadguard.audit import record
from threadguard.tables import CommentScore, ModeratorDecision, QueueItem, StoredComment, utcnow


def erase_expired(session: Session, *, retention_days: int, actor: str = "retention") -> int:
    """Blank the text of comments received more than retention_days ago; returns how many. Commits."""
    cutoff = utcnow() - dt.timedelta(days=retention_days)
    result = session.execute(
        update(StoredComment)
        .where(StoredComment.received_at < cutoff, StoredComment.erased_at.is_(None))
        .values(body=None, article_text=None, parent_body=None, erased_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount:
        record(session, actor, "retention.erase", None, comments=result.rowcount, retention_days=retention_days)
    session.commit()
    return result.rowcount


def forget_author(session: Session, author: str, *, actor: str) -> int:
    """Delete every comment by `author` and everything derived from it; returns the number of comments. Commits."""
    ids = list(session.scalars(select(StoredComment.id).where(StoredComment.author == author)))
    if ids:
        # Explicit deletes rather than relying on ON DELETE CASCADE, which SQLite applies only with foreign_keys=ON.
        session.execute(delete(ModeratorDecision).where(ModeratorDecision.comment_id.in_(ids)))
        session.execute(delete(QueueItem).where(QueueItem.comment_id.in_(ids)))
        session.execute(delete(CommentScore).where(CommentScore.comment_id.in_(ids)))
        session.execute(delete(StoredComment).where(StoredComment.id.in_(ids)))
    # The audit entry names how many comments, never the author: the log must not keep what was erased.
    record(session, actor, "forget.author", None, comments=len(ids))
    session.commit()
    return len(ids)
