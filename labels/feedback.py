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
