"""Synthetic off-topic pairs: a comment under its own article (0) and under another thread's context (1).

The public corpora have no news off-topic labels. A news comment is assumed on-topic under its own
article (a weak assumption: real threads drift) and off-topic under a different article with that
article's context, so the pairs teach relevance to context rather than any property of the comment text.
The wrong context comes from another thread of the same source and split, so test articles never leak.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence

from labels.schema import LabelledComment


def with_wrong_context_pairs(rows: Sequence[LabelledComment], *, seed: int, parent_swaps: bool = False) -> list[LabelledComment]:
    """Return rows (off_topic 0 where unset and context exists) plus one wrong-context copy per comment.

    The copy keeps the body, takes another thread's article title, text and (where that thread has
    them) a parent comment from it, gets off_topic 1 and no hate/insult label (the original carries those).
    Rows that already carry an off_topic label of 1 get no copy.

    With `parent_swaps`, a reply also gets a wrong-parent copy: its own article, but as its parent a comment from
    another thread, off_topic 1. Off-topic is judged against what a comment answers, and a reply placed under a
    comment from another discussion answers nothing there. Without these copies the article alone separates every
    pair, and a model learns to read the parent not at all (docs/benchmarks.md, "Replies under another thread's
    parent").
    """
    rng = random.Random(seed)
    parent_rng = random.Random(f"{seed}:parents")  # its own stream, so the wrong-article copies are the same with or without
    threads: dict[tuple[str, str], dict[str, list[LabelledComment]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.article_title or row.article_text:
            threads[(row.source, row.split)][row.thread_id].append(row)
    out: list[LabelledComment] = []
    for row in rows:
        has_context = bool(row.article_title or row.article_text)
        if not has_context:
            out.append(row)
            continue
        if row.off_topic is None:
            row = row.model_copy(update={"off_topic": 0})
        out.append(row)
        if row.off_topic == 1:
            continue
        others = [t for t in sorted(threads[(row.source, row.split)]) if t != row.thread_id]
        if not others:
            continue
        donor_thread = threads[(row.source, row.split)][rng.choice(others)]
        donor = rng.choice(donor_thread)
        parent = rng.choice(donor_thread).body if row.parent_body else None
        key = hashlib.sha256(f"{row.id}\x1fwrong:{donor.thread_id}".encode()).hexdigest()[:16]
        out.append(
            row.model_copy(
                update={
                    "id": key,
                    "article_title": donor.article_title,
                    "article_text": donor.article_text,
                    "parent_body": parent,
                    "hate": None,
                    "insult": None,
                    "off_topic": 1,
                }
            )
        )
        if parent_swaps and row.parent_body:
            donor_parent = parent_rng.choice(threads[(row.source, row.split)][parent_rng.choice(others)]).body
            key = hashlib.sha256(f"{row.id}\x1fwrong-parent:{donor_parent}".encode()).hexdigest()[:16]
            out.append(row.model_copy(update={"id": key, "parent_body": donor_parent, "hate": None, "insult": None, "off_topic": 1}))
    return out
