"""off_topic on wrong-article pairs built from the in-house test threads: each on-topic test comment under its own
article (0) and under another in-house test thread's article and parent (1). Those articles are unseen in training
(the in-house split is by thread), unlike the public corpora's pairs once the in-house set owns their threads.

Run: .venv/bin/python -m bench.inhouse_pairs MODEL_DIR [MODEL_DIR ...]
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.sections import machine, write_section
from labels.pairs import with_wrong_context_pairs
from labels.sets import read_jsonl
from serving.model import open_scorer
from threadguard.settings import PROJECT_ROOT

SEED = 13


def inhouse_test_pairs() -> list:
    rows = [r for r in read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl") if r.split == "test" and r.off_topic == 0]
    # one source name, so donors come from every in-house test thread (fox and globe threads alike)
    return with_wrong_context_pairs([r.model_copy(update={"source": "inhouse"}) for r in rows], seed=SEED)


def main(model_dirs: list[Path]) -> None:
    pairs = inhouse_test_pairs()
    y = np.array([r.off_topic for r in pairs])
    lines = [
        f"{len(pairs)} rows from the in-house test split ({int(y.sum())} wrong-article copies); measured {dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.inhouse_pairs {' '.join(str(d) for d in model_dirs)}`.",
        "",
        "| model | off_topic ROC-AUC, own vs another thread's article |",
        "|---|---|",
    ]
    for model_dir in model_dirs:
        scores = open_scorer(model_dir, device="cpu").predict_proba(pairs)[:, 2]
        lines.append(f"| `{model_dir.resolve().name}` | {roc_auc_score(y, scores):.3f} |")
    write_section("inhouse-pairs", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main([Path(p) for p in sys.argv[1:]] or [PROJECT_ROOT / "models" / "current"])
