"""Replies under another thread's parent: does off_topic rise when the comment a reply answers is swapped out?

Issue 7 asks whether the same comment scores more off-topic under another thread's parent comment. This takes the
in-house replies labelled on topic (Fox News threads, whose export records the comment each reply answers), keeps
each one's article, and scores it three ways: under its own parent, under no parent, and under a comment from
another thread of the same split. It reports, per split, the share of replies whose off_topic score rose with the
foreign parent and the ROC-AUC of own (0) against foreign (1) parents: 0.5 means the parent is not read at all.

Run: .venv/bin/python -m bench.parent_swap MODEL_DIR [MODEL_DIR ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.sections import machine, one_line_errors, write_section
from labels.schema import LABELS, Label, LabelledComment
from labels.sets import read_jsonl
from serving.model import open_scorer
from threadguard.settings import PROJECT_ROOT
from training.report import paired_bootstrap

LABELLED = PROJECT_ROOT / "labels" / "data" / "inhouse-extended.jsonl"
SPLITS = ("validation", "test")
SEED = 13
OFF_TOPIC = LABELS.index(Label.off_topic)


@dataclass(frozen=True)
class SwapResult:
    replies: int
    own: float  # mean off_topic score under the reply's own parent
    none: float  # under no parent
    foreign: float  # under another thread's comment
    rose: float  # share of replies whose score rose with the foreign parent
    auc: float  # own (0) against foreign (1)
    rose_each: np.ndarray  # per reply: 1.0 where its score rose

    def rose_difference(self, other: SwapResult, *, n: int = 2000, seed: int = 0) -> tuple[float, float, float]:
        """Share that rose under `self` minus under `other` (the same replies), with a 95 % paired bootstrap interval."""
        low, high = paired_bootstrap(lambda idx: float(self.rose_each[idx].mean() - other.rose_each[idx].mean()), self.replies, n=n, seed=seed)
        return self.rose - other.rose, low, high


def swapped_replies(rows: Sequence[LabelledComment], *, seed: int = SEED) -> tuple[list[LabelledComment], list[LabelledComment], list[LabelledComment]]:
    """(own parent, no parent, another thread's comment as parent) for every on-topic reply in `rows`; donors come
    from the other threads of `rows`."""
    rng = random.Random(seed)
    replies = [r for r in rows if r.parent_body and r.off_topic == 0]
    own, none, foreign = [], [], []
    for reply in replies:
        donors = [r for r in rows if r.thread_id != reply.thread_id]
        if not donors:
            continue
        own.append(reply)
        none.append(reply.model_copy(update={"parent_body": None}))
        foreign.append(reply.model_copy(update={"parent_body": rng.choice(donors).body}))
    return own, none, foreign


def measure(predict: Callable[[Sequence[LabelledComment]], np.ndarray], rows: Sequence[LabelledComment]) -> SwapResult | None:
    own, none, foreign = swapped_replies(rows)
    if not own:
        return None
    s_own, s_none, s_foreign = (predict(part)[:, OFF_TOPIC] for part in (own, none, foreign))
    y = np.r_[np.zeros(len(own)), np.ones(len(own))]
    rose = (s_foreign > s_own).astype(np.float64)
    return SwapResult(len(own), float(s_own.mean()), float(s_none.mean()), float(s_foreign.mean()), float(rose.mean()),
                      float(roc_auc_score(y, np.r_[s_own, s_foreign])), rose)


def main(model_dirs: list[Path], labelled: Path = LABELLED) -> str:
    rows = read_jsonl(labelled)
    lines = [
        (f"{labelled.relative_to(PROJECT_ROOT) if labelled.is_relative_to(PROJECT_ROOT) else labelled}: on-topic replies with their "
         f"parent, article kept; foreign parents drawn from the split's other threads (seed {SEED}). Measured {dt.date.today()} on {machine()}."),
        f"Command: `.venv/bin/python -m bench.parent_swap {' '.join(str(d) for d in model_dirs)}`.",
        "",
        "| model | split | replies | mean off_topic: own parent | no parent | foreign parent | rose with the foreign parent | ROC-AUC own vs foreign |",
        "|---|---|---|---|---|---|---|---|",
    ]
    results: dict[tuple[str, str], SwapResult] = {}
    names = []
    for model_dir in model_dirs:
        scorer = open_scorer(model_dir, device="cpu")
        names.append(scorer.name)
        for split in SPLITS:
            result = measure(scorer.predict_proba, [r for r in rows if r.split == split])
            if result is None:
                continue
            results[(scorer.name, split)] = result
            lines.append(f"| `{scorer.name}` | {split} | {result.replies} | {result.own:.4f} | {result.none:.4f} | {result.foreign:.4f} | "
                         f"{result.rose:.1%} | {result.auc:.3f} |")
    if len(names) > 1:
        lines += ["", f"Share that rose, against `{names[0]}` (the same replies; 95 % paired bootstrap over replies):", ""]
        for name in names[1:]:
            for split in SPLITS:
                if (name, split) in results and (names[0], split) in results:
                    point, low, high = results[(name, split)].rose_difference(results[(names[0], split)])
                    lines.append(f"- `{name}`, {split}: {point:+.2f} [{low:+.2f}, {high:+.2f}]")
    return "\n".join(lines)


if __name__ == "__main__":
    with one_line_errors():
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("model_dirs", nargs="*", type=Path, default=[PROJECT_ROOT / "models" / "current"])
        args = parser.parse_args()
        body = main(args.model_dirs)
        write_section("parent-swap", body)
        print(body)
