"""Moderator decisions as training labels: export to the labelled-set schema, and agreement between moderators."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.orm import Session

from labels.agreement import cohen_kappa
from labels.schema import LABELS, LabelledComment
from labels.sets import split_for_group
from serving.queue import live_decisions

FEEDBACK_SOURCE = "moderation"
SPLIT_SEED = 8


@dataclass(frozen=True)
class FeedbackExport:
    """Rows for training (the latest decision per comment) and kappa per label where two moderators decided one comment."""

    rows: list[LabelledComment]
    skipped_erased: int
    kappa: dict[str, float | None]
    overlap: int


def export_decisions(session: Session, *, since: dt.datetime | None = None) -> FeedbackExport:
    """Each decided comment once, with the moderator's labels, who decided and when; erased comments are skipped."""
    latest: dict[str, LabelledComment] = {}
    first_by_moderator: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    skipped = set()
    for decision, comment in live_decisions(session, since=since):
        labels = {label.value: getattr(decision, label.value) for label in LABELS}
        first_by_moderator[comment.id].setdefault(decision.moderator, labels)
        if comment.body is None:
            skipped.add(comment.id)
            continue
        thread = comment.thread_id or comment.id
        latest[comment.id] = LabelledComment(
            id=comment.id, source=FEEDBACK_SOURCE, split=split_for_group(thread, seed=SPLIT_SEED), thread_id=thread, body=comment.body,
            article_title=comment.article_title, article_text=comment.article_text, parent_body=comment.parent_body,
            rationale=f"moderator {decision.action}", labeller=decision.moderator, labelled_at=decision.decided_at, **labels,
        )
    pairs = [list(by.values())[:2] for by in first_by_moderator.values() if len(by) >= 2]
    kappa = {label.value: cohen_kappa([a[label.value] for a, _ in pairs], [b[label.value] for _, b in pairs]) if pairs else None for label in LABELS}
    return FeedbackExport(list(latest.values()), len(skipped), kappa, len(pairs))


SUGGESTION_SOURCE = "perspective_feedback"
_ATTRIBUTE_LABEL = {"IDENTITY_ATTACK": "hate", "INSULT": "insult", "OFF_TOPIC": "off_topic"}


def export_suggestions(session: Session, *, since: dt.datetime | None = None) -> list[LabelledComment]:
    """Perspective clients' suggested scores (SuggestCommentScore) as labelled rows, the latest suggestion per comment
    and attribute winning. IDENTITY_ATTACK, INSULT and OFF_TOPIC set hate, insult and off_topic (score >= 0.5 is 1);
    a TOXICITY or SEVERE_TOXICITY under 0.5 says neither hate nor insult, while a high one says one of them without
    saying which, so it sets nothing. Comments whose text retention has erased are skipped."""
    from sqlalchemy import select

    from threadguard.tables import SuggestedScore

    query = select(SuggestedScore).order_by(SuggestedScore.id)
    if since is not None:
        query = query.where(SuggestedScore.received_at >= since)
    by_comment: dict[str, dict] = {}
    for row in session.scalars(query):
        if row.body is None:
            continue
        entry = by_comment.setdefault(row.comment_id, {"row": row, "labels": {}})
        entry["row"] = row
        positive = int(row.value >= 0.5)
        if row.attribute in _ATTRIBUTE_LABEL:
            entry["labels"][_ATTRIBUTE_LABEL[row.attribute]] = positive
        elif row.attribute in ("TOXICITY", "SEVERE_TOXICITY") and not positive:
            entry["labels"].setdefault("hate", 0)
            entry["labels"].setdefault("insult", 0)
    rows = []
    for ident, entry in by_comment.items():
        row, labels = entry["row"], entry["labels"]
        if not labels:
            continue
        thread = f"{row.community_id or 'perspective'}:{ident}"
        rows.append(LabelledComment(id=ident, source=SUGGESTION_SOURCE, split=split_for_group(thread, seed=SPLIT_SEED), thread_id=thread,
                                    body=row.body, article_text=row.article_text, parent_body=row.parent_body,
                                    rationale=f"suggested score from {row.client}" + (f", community {row.community_id}" if row.community_id else ""),
                                    labeller=row.client, labelled_at=row.received_at, **labels))
    return rows
