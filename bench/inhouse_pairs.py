"""off_topic on wrong-article pairs: each on-topic test comment under its own article (0) and under another test
thread's article and parent (1), on two sets of threads that training never saw.

- in-house test: the in-domain set's test threads (Fox News, Globe and Mail and seed threads); unseen in training,
  since the in-house split is by thread, unlike the public corpora's pairs once the in-house set owns their threads.
- Globe and Mail test: the corpus's test split as training builds it (pairs drawn at seed 13 whatever the model's
  seed, texts the in-house set owns left out). It is one thread under two foreign articles.

Each set gets two numbers. ROC-AUC pools every comment, so a comment that scores high under any article counts
against the model. "Copy higher" is paired: the share of comments whose wrong-article copy scores above the comment
under its own article, with a 95 % bootstrap interval over comments. It asks only whether the article moved the score.
The in-house set gets both again by the comment's length in words: a short reply ("Me neither", "Larger numbers.")
carries little of its article's topic to tell the two apart by.

Run: .venv/bin/python -m bench.inhouse_pairs MODEL_DIR [MODEL_DIR ...]
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.sections import machine, one_line_errors, write_section
from labels.corpora import load_globe_and_mail
from labels.pairs import with_wrong_context_pairs
from labels.schema import LabelledComment
from labels.sets import read_jsonl
from serving.model import open_scorer
from threadguard.settings import PROJECT_ROOT, Settings
from training.report import paired_bootstrap

SEED = 13
INHOUSE = PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl"


def inhouse_test_pairs() -> list[LabelledComment]:
    rows = [r for r in read_jsonl(INHOUSE) if r.split == "test" and r.off_topic == 0]
    # one source name, so donors come from every in-house test thread (fox and globe threads alike)
    return with_wrong_context_pairs([r.model_copy(update={"source": "inhouse"}) for r in rows], seed=SEED)


def globe_test_pairs(datasets_dir: Path) -> list[LabelledComment]:
    owned = {r.body.strip() for r in read_jsonl(INHOUSE)}
    rows = load_globe_and_mail(datasets_dir / "sfu_ctc_globe_and_mail2017")
    return [r for r in with_wrong_context_pairs(rows, seed=SEED) if r.split == "test" and r.body.strip() not in owned]


def pair_indices(rows: Sequence[LabelledComment]) -> list[tuple[int, int]]:
    """(own, copy) row indices: with_wrong_context_pairs puts each wrong-article copy right after its comment."""
    return [(i - 1, i) for i in range(1, len(rows)) if rows[i].off_topic == 1 and rows[i - 1].off_topic == 0 and rows[i].body == rows[i - 1].body]


@dataclass(frozen=True)
class PairResult:
    pairs: int
    auc: float
    copy_higher: float
    low: float
    high: float


def measure(scores: np.ndarray, rows: Sequence[LabelledComment]) -> PairResult:
    """`scores`: off_topic per row of `rows`."""
    y = np.array([r.off_topic for r in rows])
    idx = np.array(pair_indices(rows))
    higher = (scores[idx[:, 1]] > scores[idx[:, 0]]).astype(np.float64)
    low, high = paired_bootstrap(lambda i: float(higher[i].mean()), len(higher), n=2000, seed=0)
    return PairResult(len(idx), float(roc_auc_score(y, scores)), float(higher.mean()), low, high)


LENGTH_BUCKETS = ((0, 8), (8, 20), (20, 50), (50, None))  # words in the comment; the upper bound excluded


def by_length(scores: np.ndarray, rows: Sequence[LabelledComment]) -> list[tuple[str, PairResult]]:
    """measure() over the pairs whose comment has each LENGTH_BUCKETS number of words (a bucket with none left out)."""
    out = []
    for low, high in LENGTH_BUCKETS:
        keep = [k for pair in pair_indices(rows) if low <= len(rows[pair[0]].body.split()) < (high or 10**9) for k in pair]
        if not keep:
            continue
        name = f"{low}-{high - 1} words" if high else f"{low} words or more"
        out.append((name, measure(scores[keep], [rows[k] for k in keep])))
    return out


def _threads(rows: Sequence[LabelledComment]) -> str:
    n = len({r.thread_id for r in rows if r.off_topic == 0})
    return f"{n} thread" + ("s" if n != 1 else "")


def main(model_dirs: list[Path], datasets_dir: Path | None = None) -> None:
    sets = {"in-house test": inhouse_test_pairs(), "Globe and Mail test": globe_test_pairs(datasets_dir or Settings().datasets_dir)}
    sizes = "; ".join(f"{name}: {len(rows)} rows from {_threads(rows)}" for name, rows in sets.items())
    lines = [
        f"Wrong-article pairs ({sizes}); measured {dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.inhouse_pairs {' '.join(str(d) for d in model_dirs)}`.",
        "ROC-AUC pools own (0) and wrong-article (1) rows; copy higher is the share of comments whose copy scores above them (95 % bootstrap over comments).",
        "",
        "| model | " + " | ".join(f"{name}: ROC-AUC | copy higher" for name in sets) + " |",
        "|---|" + "---|---|" * len(sets),
    ]
    lengths = []  # each model's in-house pairs by length; every model has the same buckets, as it scores the same rows
    for model_dir in model_dirs:
        scorer = open_scorer(model_dir, device="cpu")
        cells = []
        for name, rows in sets.items():
            scores = scorer.predict_proba(rows)[:, 2]
            result = measure(scores, rows)
            cells += [f"{result.auc:.3f}", f"{result.copy_higher:.1%} [{result.low:.1%}, {result.high:.1%}]"]
            if name == "in-house test":
                lengths.append((model_dir.resolve().name, by_length(scores, rows)))
        lines.append(f"| `{model_dir.resolve().name}` | " + " | ".join(cells) + " |")
    buckets = lengths[0][1] if lengths else []
    lines += ["", "In-house test pairs by the comment's length (ROC-AUC; copy higher):", "",
              "| model | " + " | ".join(f"{name} ({result.pairs} comments)" for name, result in buckets) + " |",
              "|---|" + "---|" * len(buckets)]
    for model, results in lengths:
        lines.append(f"| `{model}` | " + " | ".join(f"{r.auc:.3f}; {r.copy_higher:.1%}" for _, r in results) + " |")
    write_section("inhouse-pairs", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main([Path(p) for p in sys.argv[1:]] or [PROJECT_ROOT / "models" / "current"])
