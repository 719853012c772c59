"""The in-domain labelling set: draw whole news threads (over-sampling flagged ones), label sheets, final set.

Sampling never writes or pre-fills a label: the weak corpus labels and the baseline model only decide
which *threads* are drawn (threads with more flagged comments are more likely), and the sheets a
labeller reads show the comment, its article and its parent, never a flag or a score.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from labels.agreement import LabelDecision
from labels.corpora import _row_id, load_fox_news, load_globe_and_mail
from labels.schema import GUIDE_VERSION, HandLabelledComment, LabelledComment, Split
from labels.sets import read_models, split_groups
from labels.threads import parse_file
from threadguard.errors import DataError, ParseError

SAMPLE_SEED = 6
TARGET_COMMENTS = 1500
SECOND_PASS_SHARE = 0.2
M = TypeVar("M", "PoolItem", HandLabelledComment)


class PoolItem(BaseModel):
    """A comment drawn for labelling, with the context a labeller reads and why its thread was drawn."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str
    thread_id: str
    body: str
    article_title: str | None = None
    article_text: str | None = None
    parent_body: str | None = None
    flagged: bool = False


def _globe_toxicity(folder: Path) -> dict[str, int]:
    with gzip.open(folder / "SFU_constructiveness_toxicity.csv.gz", "rt", encoding="utf-8", newline="") as fh:
        return {_row_id("globe_and_mail", r["_unit_id"]): int(r["is_toxic_popular_answer_1"] or 1) for r in csv.DictReader(fh)}


def candidate_pool(datasets_dir: Path, seeds_dir: Path, flag: Callable[[Sequence[LabelledComment]], list[bool]]) -> list[PoolItem]:
    """Every news comment that could be drawn, with `flagged` = weak corpus label or baseline model flag."""
    fox = load_fox_news(datasets_dir / "fox_news_comments2017")
    globe_dir = datasets_dir / "sfu_ctc_globe_and_mail2017"
    globe = load_globe_and_mail(globe_dir)
    toxicity = _globe_toxicity(globe_dir)
    rows: list[LabelledComment] = fox + globe
    model_flags = flag(rows)
    pool = []
    for row, model_flag in zip(rows, model_flags, strict=True):
        weak = row.hate == 1 if row.source == "fox_news" else toxicity.get(row.id, 1) >= 2
        pool.append(PoolItem(id=row.id, source=row.source, thread_id=row.thread_id, body=row.body, article_title=row.article_title,
                             article_text=row.article_text, parent_body=row.parent_body, flagged=weak or model_flag))
    for path in sorted(seeds_dir.glob("*.txt")):
        for c in parse_file(path):
            pool.append(PoolItem(id=c.id, source="seed", thread_id=f"seed:{c.thread_id}", body=c.body, article_title=c.article_title,
                                 article_text=c.article_text, parent_body=c.parent_body))
    return pool


def draw_threads(pool: Sequence[PoolItem], *, seed: int = SAMPLE_SEED, target: int = TARGET_COMMENTS) -> list[PoolItem]:
    """Whole threads, drawn without replacement with weight 0.25 + flagged share, until `target` comments.

    Seed threads are always kept. Weighted sampling uses Efraimidis-Spirakis keys u ** (1 / weight).
    """
    threads: dict[str, list[PoolItem]] = defaultdict(list)
    for item in pool:
        threads[item.thread_id].append(item)
    rng = random.Random(seed)
    chosen = [t for t in sorted(threads) if t.startswith("seed:")]
    keys = []
    for thread_id in sorted(t for t in threads if not t.startswith("seed:")):
        items = threads[thread_id]
        weight = 0.25 + sum(i.flagged for i in items) / len(items)
        keys.append((rng.random() ** (1 / weight), thread_id))
    for _, thread_id in sorted(keys, reverse=True):
        if sum(len(threads[t]) for t in chosen) >= target:
            break
        chosen.append(thread_id)
    return [item for thread_id in chosen for item in threads[thread_id]]


def extend_pool(pool: Sequence[PoolItem], candidates: Sequence[PoolItem], *, source: str) -> list[PoolItem]:
    """The pool followed by every whole thread of `source` it does not hold yet, in thread-id order.

    Existing items keep their positions, so the numbers on sheets already answered stay valid; the new comments
    are numbered after them.
    """
    sources = sorted({c.source for c in candidates} - {"seed"})
    if source not in sources:
        raise DataError(f"no candidate comment comes from {source!r}; the candidates' sources are {', '.join(sources)}")
    drawn = {item.thread_id for item in pool}
    added = sorted((c for c in candidates if c.source == source and c.thread_id not in drawn), key=lambda c: c.thread_id)
    if not added:
        raise DataError(f"the pool already holds every {source} thread")
    return [*pool, *added]


def second_pass_ids(items: Sequence[PoolItem], *, seed: int = SAMPLE_SEED, share: float = SECOND_PASS_SHARE) -> list[str]:
    """A seeded share of comments (at least `share`, stratified by thread) to be labelled a second time."""
    by_thread: dict[str, list[str]] = defaultdict(list)
    for item in items:
        by_thread[item.thread_id].append(item.id)
    rng = random.Random(seed + 1)
    picked: list[str] = []
    for thread_id in sorted(by_thread):
        ids = sorted(by_thread[thread_id])
        picked += rng.sample(ids, max(1, -(-len(ids) * int(share * 100) // 100)))
    rng.shuffle(picked)  # the second pass reads them in another order than the first
    return picked


def select_ids(items: Sequence[PoolItem], ids_file: Path) -> list[PoolItem]:
    """The pool items named in an id list, in the list's order (a second-pass sheet)."""
    by_id = {item.id: item for item in items}
    wanted = [line.strip() for line in ids_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = [i for i in wanted if i not in by_id]
    if missing:
        raise DataError(f"{ids_file}: {len(missing)} ids are not in the pool, e.g. {missing[0]}")
    return [by_id[i] for i in wanted]


def render_sheet(items: Sequence[PoolItem], start: int = 0) -> str:
    """A plain-text labelling sheet: numbered comments with their article and parent, nothing else."""
    out, previous = [], None
    for n, item in enumerate(items, start=start):
        if item.thread_id != previous:  # the article is printed once per thread
            article = (item.article_text or "")[:300].replace("\n", " ")
            out.append(f"=== ARTICLE: {item.article_title or '-'} — {article}")
            previous = item.thread_id
        parent = f" (PARENT: {item.parent_body[:300]})".replace("\n", " ") if item.parent_body else ""
        out.append(f"[{n}]{parent} {item.body[:1500]}".replace("\n", " / "))
    return "\n".join(out)


SHEET_LINE = re.compile(r"^\s*(\d+)\s+([01])\s+([01])\s+([01])\s*\|\s*(\S.*)$")


def read_sheet_answers(path: Path, items: Sequence[PoolItem], *, labeller: str, guide_version: str = GUIDE_VERSION) -> list[LabelDecision]:
    """Parse answer lines `N hate insult off_topic | rationale` into decisions for items[N]."""
    decisions: dict[str, LabelDecision] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = SHEET_LINE.match(line)
        if not match:
            raise ParseError(path, lineno, "expected 'N hate insult off_topic | rationale' with 0/1 labels")
        n = int(match[1])
        if n >= len(items):
            raise ParseError(path, lineno, f"comment number {n} is past the sheet's {len(items)} comments")
        item = items[n]
        if item.id in decisions:
            raise ParseError(path, lineno, f"comment number {n} is answered twice")
        decisions[item.id] = LabelDecision(id=item.id, hate=int(match[2]), insult=int(match[3]), off_topic=int(match[4]),
                                           rationale=match[5].strip(), labeller=labeller, guide_version=guide_version)
    return list(decisions.values())


def read_decisions(path: Path) -> list[LabelDecision]:
    """A labelling pass (JSONL of LabelDecision rows)."""
    return read_models(path, LabelDecision, what="labelling pass")


def write_models(rows: Sequence[BaseModel], path: Path) -> None:
    """One JSON object per line, sorted keys (stable diffs); atomic (temp file, then rename), since `labels extend`
    and `labels parents` rewrite the pool in place and a crash halfway must leave the old file whole."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r.model_dump(mode="json"), sort_keys=True, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


def fill_parents(items: Sequence[M], parents: Mapping[str, str]) -> tuple[list[M], int]:
    """`items` with parent_body set from `parents` (id -> the comment it answers) where they have none; and how many
    were filled. A parent already recorded is kept: it came from the same export the labeller read."""
    out, filled = [], 0
    for item in items:
        parent = parents.get(item.id)
        if parent and not item.parent_body:
            item = item.model_copy(update={"parent_body": parent})
            filled += 1
        out.append(item)
    return out, filled


def read_pool(path: Path) -> list[PoolItem]:
    """The drawn comments, in sheet order."""
    return read_models(path, PoolItem, what="pool")


def thread_splits(
    items: Sequence[PoolItem], decisions: Sequence[LabelDecision], *, seed: int = SAMPLE_SEED, min_positives: int = 8, tries: int = 10_000
) -> dict[str, Split]:
    """Split by thread: seed threads are test; the others 60/20/20 by thread, from the first seed (counting up
    from `seed`) whose validation and test splits each hold at least `min_positives` of every label.

    Whole threads stay together, so a handful of large threads decides the counts; searching seeds keeps the
    split deterministic while making sure thresholds are never tuned on a split without positives.
    """
    by_id = {d.id: d for d in decisions}
    threads = sorted({i.thread_id for i in items if not i.thread_id.startswith("seed:")})
    positives: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item in items:
        for label in ("hate", "insult", "off_topic"):
            positives[item.thread_id][label] += getattr(by_id[item.id], label) if item.id in by_id else 0
    for attempt in range(seed, seed + tries):
        assignment = split_groups(threads, seed=attempt)
        ok = all(
            sum(positives[t][label] for t in threads if assignment[t] == split) >= min_positives
            for split in ("validation", "test")
            for label in ("hate", "insult", "off_topic")
        )
        if ok:
            assignment.update({i.thread_id: "test" for i in items if i.thread_id.startswith("seed:")})
            return assignment
    raise DataError(f"no thread split in {tries} seeds gives every split {min_positives} positives per label")


def build_set(
    items: Sequence[PoolItem],
    decisions: Sequence[LabelDecision],
    *,
    min_positives: int = 8,
    keep_splits: Mapping[str, Split] | None = None,
    new_splits: Mapping[str, Split] | None = None,
) -> list[HandLabelledComment]:
    """Join the drawn comments with their (adjudicated) labels; every drawn comment must be labelled.

    With `keep_splits` (thread id → split of an earlier build) those threads keep their split and every other
    thread joins train, unless `new_splits` names its split: an extension adds training data, or grows
    validation and test, while every earlier row stays where it was, so models measured on the earlier
    splits can be measured again on the same rows plus the new ones.
    """
    by_id = {d.id: d for d in decisions}
    unlabelled = [i.id for i in items if i.id not in by_id]
    if unlabelled:
        raise DataError(f"{len(unlabelled)} drawn comments have no label yet, e.g. {', '.join(unlabelled[:5])}")
    if new_splits and keep_splits is None:
        raise DataError("new threads can be given a split only when an earlier build keeps the others' splits")
    if keep_splits is None:
        splits = thread_splits(items, decisions, min_positives=min_positives)
    else:
        new_splits = new_splits or {}
        threads = {item.thread_id for item in items}
        unknown = sorted(set(new_splits) - threads)
        if unknown:
            raise DataError(f"no drawn thread {unknown[0]!r} to give a split; threads look like {min(threads)!r}")
        already = sorted(t for t in new_splits if t in keep_splits)
        if already:
            raise DataError(f"thread {already[0]!r} already has split {keep_splits[already[0]]!r} in the earlier build")
        splits = {t: keep_splits.get(t) or new_splits.get(t) or "train" for t in threads}
    return [
        HandLabelledComment(
            id=item.id, source=f"inhouse:{item.source}", split=splits[item.thread_id], thread_id=item.thread_id, body=item.body,
            article_title=item.article_title, article_text=item.article_text, parent_body=item.parent_body,
            **by_id[item.id].model_dump(exclude={"id"}),
        )
        for item in items
    ]
