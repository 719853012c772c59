"""HateXplain three-class macro-F1 of model dirs on the official test split, beside the published BERT-HateXplain figure.

Our labels map onto HateXplain's classes as: hate -> hatespeech, else insult -> offensive, else normal, each at
the calibrated 0.5 cut-off. HateXplain's "offensive" also holds untargeted profanity, which our insult label
excludes, so the mapping is lossy by design; the number is reported, not tuned for.

Run: .venv/bin/python -m bench.hatexplain_three_class MODEL_DIR [MODEL_DIR ...]
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from bench.sections import machine, one_line_errors, write_section
from labels.corpora import CORPORA, hatexplain_three_class
from labels.schema import Comment
from serving.model import open_scorer
from threadguard.settings import Settings

PUBLISHED_BERT_HATEXPLAIN = 0.69  # about: the best BERT-HateXplain macro-F1 reported by Mathew et al. 2021 on this split
CLASSES = ["hatespeech", "offensive", "normal"]


def predict_classes(probs: np.ndarray) -> list[str]:
    """hate -> hatespeech, else insult -> offensive, else normal (columns in LABELS order: hate, insult, off_topic)."""
    return ["hatespeech" if p[0] >= 0.5 else "offensive" if p[1] >= 0.5 else "normal" for p in probs]


def main(model_dirs: list[Path]) -> None:
    folder = Settings().datasets_dir / CORPORA["hatexplain"].folder
    rows = hatexplain_three_class(folder)
    gold = [label for _, label in rows]
    comments = [Comment(id=str(i), thread_id="hatexplain", body=text) for i, (text, _) in enumerate(rows)]
    lines = [
        f"Official HateXplain test split, {len(rows)} posts ({', '.join(f'{c} {gold.count(c)}' for c in CLASSES)}); measured {dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.hatexplain_three_class {' '.join(str(d) for d in model_dirs)}`.",
        ("Mapping: hate ≥ 0.5 → hatespeech, else insult ≥ 0.5 → offensive, else normal. HateXplain's \"offensive\" also holds untargeted "
         "profanity, which our insult label excludes, so the mapping is lossy."),
        "",
        "| model | macro-F1 | F1 hatespeech | F1 offensive | F1 normal |",
        "|---|---|---|---|---|",
        f"| BERT-HateXplain (published, Mathew et al. 2021) | ≈ {PUBLISHED_BERT_HATEXPLAIN:.2f} | – | – | – |",
    ]
    for model_dir in model_dirs:
        scorer = open_scorer(model_dir, device="cpu")
        predicted = predict_classes(scorer.predict_proba(comments))
        per_class = f1_score(gold, predicted, labels=CLASSES, average=None, zero_division=0)
        macro = f1_score(gold, predicted, labels=CLASSES, average="macro", zero_division=0)
        lines.append(f"| `{model_dir.resolve().name}` | {macro:.3f} | " + " | ".join(f"{v:.3f}" for v in per_class) + " |")
    write_section("hatexplain-three-class", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main([Path(p) for p in sys.argv[1:]] or [Path("models/current")])
