"""The moderation queue: enqueue flagged comments, report, list, claim (with expiry), decide, undo.

Every write is one transaction that also appends to the audit log, and a decision is committed before the
page is told it happened, so an acknowledged decision survives a crash (SQLite WAL + synchronous=FULL).
Claims are taken with a conditional UPDATE, so two moderators racing for one item cannot both win.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from labels.schema import LABELS, Comment
from serving.model import Scorer
from serving.schemas import CommentIn, ScoreOut
from serving.scoring import score_rows
from threadguard.artifact import LabelThresholds
from threadguard.audit import record
from threadguard.errors import UsageError
from threadguard.tables import CommentScore, ModeratorDecision, QueueItem, StoredComment, utcnow


class Status(StrEnum):
    pending = "pending"
    reported = "reported"
    decided = "decided"


class Action(StrEnum):
    approve = "approve"
    reject = "reject"
    relabel = "relabel"


class Sort(StrEnum):
    score = "score"
    age = "age"
    uncertainty = "uncertainty"


class ClaimLost(UsageError):
    """The item is claimed by someone else (or the caller's claim expired and was taken)."""


class NotFound(UsageError):
    """No such queue item."""


@dataclass(frozen=True)
class QueueView:
    """One queue item with what the page shows: comment, context, latest scores."""

    item: QueueItem
    comment: StoredComment
    scores: dict[str, float]
    decision: str
    model: str


def _reason(scores: dict[str, float], thresholds: dict[str, LabelThresholds]) -> tuple[str, str, float]:
    """The flagging explanation, the label that scored highest against its review threshold, and that score."""
    flagged = [(label, s, thresholds[label].review) for label, s in scores.items() if s >= thresholds[label].review]
    top_label, top_score = max(scores.items(), key=lambda kv: kv[1] - thresholds[kv[0]].review)
    text = ", ".join(f"{label} {s:.2f} ≥ review {t:.2f}" for label, s, t in flagged) or "below every review threshold"
    return text, top_label, top_score


def _uncertainty(scores: dict[str, float]) -> float:
    """1 at a score of 0.5, 0 at 0 or 1 (the most uncertain label counts): the labelling mode's order."""
    return max(1.0 - abs(2.0 * s - 1.0) for s in scores.values())


def store_comment(session: Session, comment: CommentIn, ident: str) -> StoredComment:
    """Insert the comment, or refresh its text and context if it is already stored."""
    stored = session.get(StoredComment, ident)
    fields = {"thread_id": comment.thread_id, "author": comment.author, "body": comment.body, "article_title": comment.article_title,
              "article_text": comment.article_text, "parent_body": comment.parent_body}
    if stored is None:
        stored = StoredComment(id=ident, **fields)
        session.add(stored)
    else:
        for key, value in fields.items():
            if value is not None:
                setattr(stored, key, value)
        stored.erased_at = None
    session.flush()  # the tables have no ORM relationships, so the comment row must exist before rows that point at it
    return stored


def _add_score(session: Session, result: ScoreOut) -> None:
    session.add(CommentScore(comment_id=result.id, model_name=result.model.name, model_version=result.model.version,
                             decision=result.decision.value, **{label.value: result.scores[label.value] for label in LABELS}))


def enqueue(session: Session, comment: CommentIn, result: ScoreOut, thresholds: dict[str, LabelThresholds], *, labelling: bool = False) -> QueueItem | None:
    """Store the comment and its scores; queue it if it was scored review/reject (or always, for labelling)."""
    store_comment(session, comment, result.id)
    _add_score(session, result)
    if result.decision == "allow" and not labelling:
        return None
    item = session.scalar(select(QueueItem).where(QueueItem.comment_id == result.id))
    reason, top_label, top_score = _reason(result.scores, thresholds)
    if item is None:
        item = QueueItem(comment_id=result.id, status=Status.pending, reason=reason, top_label=top_label, top_score=top_score,
                         uncertainty=_uncertainty(result.scores), labelling=labelling)
        session.add(item)
    elif item.status != Status.decided:
        item.reason, item.top_label, item.top_score, item.uncertainty = reason, top_label, top_score, _uncertainty(result.scores)
    session.flush()
    return item


def score_and_enqueue(session: Session, scorer: Scorer, comments: Sequence[Comment], *, labelling: bool) -> int:
    """Score parsed comments and queue the flagged ones (every one, for labelling); returns how many were queued."""
    queued = 0
    for comment, result in zip(comments, score_rows(scorer, comments, [c.id for c in comments]), strict=True):
        incoming = CommentIn(id=result.id, body=comment.body, article_title=comment.article_title, article_text=comment.article_text,
                             parent_body=comment.parent_body, thread_id=comment.thread_id, author=comment.author)
        queued += enqueue(session, incoming, result, scorer.thresholds, labelling=labelling) is not None
    return queued


def report(session: Session, comment: CommentIn, ident: str, *, reporter: str, reason: str,
           result: ScoreOut | None = None, thresholds: dict[str, LabelThresholds] | None = None) -> QueueItem:
    """A backend's report: the comment enters (or moves to) the reported queue; a decided item is reopened.

    With the model's result the scores are stored too, so the moderator sees them beside the reader's reason.
    """
    store_comment(session, comment, ident)
    top_label, top_score, uncertainty = "", 0.0, 0.0
    if result is not None and thresholds is not None:
        _add_score(session, result)
        _, top_label, top_score = _reason(result.scores, thresholds)
        uncertainty = _uncertainty(result.scores)
    item = session.scalar(select(QueueItem).where(QueueItem.comment_id == ident))
    text = f"reported by {reporter}: {reason}" if reason else f"reported by {reporter}"
    if item is None:
        item = QueueItem(comment_id=ident, status=Status.reported, reason=text, top_label=top_label, top_score=top_score, uncertainty=uncertainty)
        session.add(item)
    else:
        item.status, item.reason, item.decided_at = Status.reported, f"{text}; {item.reason}", None
        if top_label:
            item.top_label, item.top_score, item.uncertainty = top_label, top_score, uncertainty
    session.flush()
    record(session, reporter, "report", str(item.id), comment_id=ident, reason=reason)
    return item


def counts(session: Session) -> dict[str, int]:
    """Items per queue (labelling items are counted apart)."""
    rows = session.execute(select(QueueItem.status, QueueItem.labelling, func.count()).group_by(QueueItem.status, QueueItem.labelling)).all()
    out = {status.value: 0 for status in Status} | {"labelling": 0}
    for status, labelling, n in rows:
        key = "labelling" if labelling and status != Status.decided else status
        out[key] += n
    return out


def _latest_scores(session: Session, comment_ids: Sequence[str]) -> dict[str, CommentScore]:
    if not comment_ids:
        return {}
    latest = select(CommentScore.comment_id, func.max(CommentScore.id).label("id")).where(CommentScore.comment_id.in_(comment_ids)).group_by(CommentScore.comment_id).subquery()
    rows = session.scalars(select(CommentScore).join(latest, CommentScore.id == latest.c.id)).all()
    return {row.comment_id: row for row in rows}


def _view(items: Sequence[QueueItem], session: Session) -> list[QueueView]:
    comments = {c.id: c for c in session.scalars(select(StoredComment).where(StoredComment.id.in_([i.comment_id for i in items])))}
    scores = _latest_scores(session, [i.comment_id for i in items])
    out = []
    for item in items:
        score = scores.get(item.comment_id)
        values = {label.value: getattr(score, label.value) for label in LABELS} if score else {}
        out.append(QueueView(item, comments[item.comment_id], values, score.decision if score else "", f"{score.model_name}" if score else ""))
    return out


def _query(status: Status, *, labelling: bool, sort: Sort, label: str | None, thread: str | None):  # type: ignore[no-untyped-def]
    query = select(QueueItem).where(QueueItem.status == status)
    if status != Status.decided:
        query = query.where(QueueItem.labelling.is_(labelling))
    if label:
        query = query.where(QueueItem.top_label == label)
    if thread:
        query = query.join(StoredComment, StoredComment.id == QueueItem.comment_id).where(StoredComment.thread_id == thread)
    order = {
        Sort.score: (QueueItem.top_score.desc(), QueueItem.id),
        Sort.age: (QueueItem.created_at, QueueItem.id),
        Sort.uncertainty: (QueueItem.uncertainty.desc(), QueueItem.id),
    }[sort]
    if status == Status.decided:
        order = (QueueItem.decided_at.desc(), QueueItem.id.desc())
    return query.order_by(*order)


def list_items(session: Session, status: Status, *, labelling: bool = False, sort: Sort = Sort.score, label: str | None = None,
               thread: str | None = None, limit: int = 50) -> list[QueueView]:
    """A page of one queue, sorted and filtered."""
    return _view(session.scalars(_query(status, labelling=labelling, sort=sort, label=label, thread=thread).limit(limit)).all(), session)


def thread_view(session: Session, thread_id: str) -> list[QueueView]:
    """Every queued comment of one thread, oldest first."""
    items = session.scalars(select(QueueItem).join(StoredComment, StoredComment.id == QueueItem.comment_id)
                            .where(StoredComment.thread_id == thread_id).order_by(StoredComment.received_at, QueueItem.id)).all()
    return _view(items, session)


def get_view(session: Session, item_id: int) -> QueueView:
    item = session.get(QueueItem, item_id, populate_existing=True)
    if item is None:
        raise NotFound(f"no queue item {item_id}")
    return _view([item], session)[0]


def claim(session: Session, item_id: int, user: str, *, ttl: dt.timedelta) -> bool:
    """Take (or renew) the claim on an open item; False if another moderator holds a live claim. Commits.

    A moderator holds one claim at a time: taking one releases their others, so moving on with j/k frees the
    comments they skipped for the rest of the team at once instead of after the claim expires.
    """
    now = utcnow()
    session.execute(
        update(QueueItem).where(QueueItem.claimed_by == user, QueueItem.id != item_id)
        .values(claimed_by=None, claim_expires_at=None).execution_options(synchronize_session="fetch")
    )
    result = session.execute(
        update(QueueItem)
        .where(QueueItem.id == item_id, QueueItem.status != Status.decided,
               or_(QueueItem.claimed_by.is_(None), QueueItem.claimed_by == user, QueueItem.claim_expires_at < now))
        .values(claimed_by=user, claim_expires_at=now + ttl)
        .execution_options(synchronize_session="fetch")
    )
    session.commit()
    return result.rowcount == 1


def claim_next(session: Session, user: str, *, ttl: dt.timedelta, status: Status = Status.pending, labelling: bool = False,
               sort: Sort = Sort.score, label: str | None = None, thread: str | None = None, after: int | None = None) -> QueueView | None:
    """Claim the first item of a queue the user may take (their own claim first), skipping items others hold."""
    now = utcnow()
    base = _query(status, labelling=labelling, sort=sort, label=label, thread=thread)
    own = session.scalars(base.where(QueueItem.claimed_by == user, QueueItem.claim_expires_at >= now)).first()
    if own is not None and claim(session, own.id, user, ttl=ttl):
        return get_view(session, own.id)
    free = base.where(or_(QueueItem.claimed_by.is_(None), QueueItem.claim_expires_at < now))
    for item in session.scalars(free.limit(20)).all():
        if claim(session, item.id, user, ttl=ttl):
            return get_view(session, item.id)
    return None


def decide(session: Session, item_id: int, user: str, action: Action, labels: dict[str, int] | None = None) -> ModeratorDecision:
    """Record a verdict on an item the user holds a live claim on; approve means no label applies. Commits."""
    # populate_existing: claims are changed by bulk UPDATEs, so an item already in this session may be stale.
    item = session.get(QueueItem, item_id, with_for_update=True, populate_existing=True)
    if item is None:
        raise NotFound(f"no queue item {item_id}")
    now = utcnow()
    expires = item.claim_expires_at
    if expires is not None and expires.tzinfo is None:  # SQLite hands back naive UTC
        expires = expires.replace(tzinfo=dt.UTC)
    if item.status == Status.decided or item.claimed_by != user or expires is None or expires < now:
        raise ClaimLost(f"queue item {item_id} is not claimed by {user} (claim it again)")
    if action == Action.approve:
        chosen = {label.value: 0 for label in LABELS}
    else:
        chosen = {label.value: int(bool((labels or {}).get(label.value, 0))) for label in LABELS}
        if action == Action.reject and not any(chosen.values()) and item.top_label:
            chosen[item.top_label] = 1  # a reject without labels confirms what the model flagged
    decision = ModeratorDecision(item_id=item.id, comment_id=item.comment_id, moderator=user, action=action.value,
                                 previous_status=item.status, **chosen)
    session.add(decision)
    item.status, item.decided_at, item.claimed_by, item.claim_expires_at = Status.decided, now, None, None
    session.flush()
    record(session, user, f"decide.{action.value}", str(item.id), comment_id=item.comment_id, labels=chosen)
    session.commit()
    return decision


def undo_last(session: Session, user: str, *, since: dt.datetime) -> ModeratorDecision | None:
    """Undo the user's latest live decision made since `since` (their login): the item goes back to its queue, claimed by them."""
    decision = session.scalars(
        select(ModeratorDecision).where(ModeratorDecision.moderator == user, ModeratorDecision.undone.is_(False),
                                        ModeratorDecision.decided_at >= since).order_by(ModeratorDecision.id.desc())
    ).first()
    if decision is None:
        return None
    item = session.get(QueueItem, decision.item_id, populate_existing=True)
    assert item is not None
    decision.undone = True
    item.status, item.decided_at = decision.previous_status, None
    item.claimed_by, item.claim_expires_at = user, utcnow() + dt.timedelta(minutes=5)
    record(session, user, "decide.undo", str(item.id), decision_id=decision.id)
    session.commit()
    return decision


def live_decisions(session: Session, *, since: dt.datetime | None = None) -> list[tuple[ModeratorDecision, StoredComment]]:
    """Decisions not undone (oldest first) with their comments: what feedback export turns into labels."""
    query = select(ModeratorDecision, StoredComment).join(StoredComment, StoredComment.id == ModeratorDecision.comment_id).where(
        ModeratorDecision.undone.is_(False))
    if since is not None:
        query = query.where(ModeratorDecision.decided_at >= since)
    return [(d, c) for d, c in session.execute(query.order_by(ModeratorDecision.id)).all()]

