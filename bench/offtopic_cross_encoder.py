"""Can a cross-encoder dedicated to off_topic reach issue 7's 0.95 on wrong-article pairs, where the bi-encoder stops?

The default reads off_topic from embeddings of the comment, article and parent made apart (serving/context.py): on
the wrong-article pairs of bench.inhouse_pairs it scores 0.863 in-house, and the shipped encoder's raw cosine tops
out at 0.875. The first cross-encoder (git 74bd841, one model for all three labels) learnt to ignore the context,
since hate and insult never depend on it. This probe trains a second model for off_topic alone, the comment and its
context read together as one pair ("comment [SEP] title. lead | parent"), on the config's training rows that carry an
off_topic label (the wrong-article copies, the synthetic pitches and the real labels), and scores it on the same
rows as bench.inhouse_pairs, plus the in-house validation and test splits' real labels.

It measures a ceiling and a cost, and builds nothing the service loads: PyTorch fp32, the comment's text as written.

Run: .venv/bin/python -m bench.offtopic_cross_encoder [--rows N] [--epochs E] [--max-length T]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.inhouse_pairs import INHOUSE, SEED, globe_test_pairs, inhouse_test_pairs, measure
from bench.sections import machine, one_line_errors, write_section
from labels.pairs import with_wrong_context_pairs
from labels.schema import LabelledComment
from labels.sets import read_jsonl
from serving.context import context_parts
from serving.model import open_scorer
from threadguard.settings import PROJECT_ROOT, Settings

CONFIG = PROJECT_ROOT / "training" / "configs" / "minilm.toml"


def pair_text(row: LabelledComment) -> tuple[str, str]:
    """(comment, context) as the bi-encoder's parts hold them, the context as "title. lead | parent"."""
    parts = context_parts(row)
    return parts.comment, " | ".join(part for part in (parts.article, parts.parent) if part)


def training_rows(datasets_dir: Path, rows: int, seed: int) -> list[LabelledComment]:
    """The config's training rows with an off_topic label and a context: at most `rows` of them, up to half of each class."""
    from training.config import load_config
    from training.data import assemble

    bundle = assemble(load_config(CONFIG), datasets_dir, progress=False)
    labelled = [r for r in bundle.train if r.off_topic is not None and (r.article_title or r.article_text)]
    rng = random.Random(seed)
    on = [r for r in labelled if r.off_topic == 0]
    off = [r for r in labelled if r.off_topic == 1]
    half = rows // 2
    picked = rng.sample(on, min(half, len(on))) + rng.sample(off, min(half, len(off)))
    rng.shuffle(picked)
    print(f"training rows with off_topic and context: {len(labelled)} ({len(off)} off topic); sampled {len(picked)}; "
          f"by source {dict(Counter(r.source for r in picked))}", flush=True)
    return picked


def validation_rows() -> list[LabelledComment]:
    """In-house validation: its real labels plus a wrong-article copy of each on-topic comment (as training pairs them)."""
    rows = [r.model_copy(update={"source": "inhouse"}) for r in read_jsonl(INHOUSE) if r.split == "validation"]
    return with_wrong_context_pairs(rows, seed=SEED)


class CrossEncoder:
    def __init__(self, max_length: int, seed: int) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from training.finetune import SHIPPED_MINILM, resolve_base_model

        hf_logging.set_verbosity_error()
        torch.manual_seed(seed)
        path = resolve_base_model(SHIPPED_MINILM)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)
        self.max_length = max_length
        self.torch = torch

    def _batches(self, rows: Sequence[LabelledComment], size: int, *, shuffle: random.Random | None = None) -> list[list[int]]:
        """Index batches of rows of similar length (padding is most of the cost), in random order when training."""
        lengths = [sum(len(t) for t in pair_text(r)) for r in rows]
        order = sorted(range(len(rows)), key=lengths.__getitem__)
        batches = [order[i : i + size] for i in range(0, len(order), size)]
        if shuffle is not None:
            shuffle.shuffle(batches)
        return batches

    def _encode(self, rows: Sequence[LabelledComment]):  # type: ignore[no-untyped-def]
        comments, contexts = zip(*(pair_text(r) for r in rows), strict=True)
        return self.tokenizer(list(comments), list(contexts), truncation="longest_first", max_length=self.max_length,
                              padding=True, return_tensors="pt")

    def fit(self, rows: Sequence[LabelledComment], *, epochs: float, batch_size: int, lr: float, seed: int,
            on_eval=None, eval_every: int = 0) -> None:  # type: ignore[no-untyped-def]
        from tqdm import tqdm
        from transformers import get_linear_schedule_with_warmup

        torch = self.torch
        rng = random.Random(seed)
        per_epoch = math.ceil(len(rows) / batch_size)
        steps = int(per_epoch * epochs)
        optimiser = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01)
        schedule = get_linear_schedule_with_warmup(optimiser, int(0.06 * steps), steps)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        batches: list[list[int]] = []
        bar = tqdm(range(steps), desc="cross-encoder", unit="step", mininterval=5)
        for step in bar:
            if not batches:
                batches = self._batches(rows, batch_size, shuffle=rng)
            idx = batches.pop()
            self.model.train()
            inputs = self._encode([rows[i] for i in idx])
            target = torch.tensor([float(rows[i].off_topic) for i in idx])
            loss = loss_fn(self.model(**inputs).logits.squeeze(-1), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if on_eval and eval_every and (step + 1) % eval_every == 0:
                on_eval(step + 1)

    def predict(self, rows: Sequence[LabelledComment], batch_size: int = 64) -> np.ndarray:
        torch = self.torch
        self.model.eval()
        out = np.zeros(len(rows), np.float64)
        with torch.inference_mode():
            for idx in self._batches(rows, batch_size):
                logits = self.model(**self._encode([rows[i] for i in idx])).logits.squeeze(-1)
                out[idx] = torch.sigmoid(logits).numpy()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--compare", type=Path, default=PROJECT_ROOT / "models" / "current",
                        help="a model dir scored on the same rows, as served (the default model)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    datasets_dir = Settings().datasets_dir
    served = open_scorer(args.compare, device="cpu")  # a wrong dir is refused in one line now, not after the fine-tune
    started = time.monotonic()
    train = training_rows(datasets_dir, args.rows, args.seed)
    validation = validation_rows()
    inhouse_pairs, globe_pairs = inhouse_test_pairs(), globe_test_pairs(datasets_dir)
    inhouse_test = [r for r in read_jsonl(INHOUSE) if r.split == "test" and r.off_topic is not None]
    encoder = CrossEncoder(args.max_length, args.seed)
    y_val = np.array([r.off_topic for r in validation])
    history: list[tuple[int, float]] = []

    def on_eval(step: int) -> None:
        auc = float(roc_auc_score(y_val, encoder.predict(validation)))
        history.append((step, auc))
        print(f"step {step}: in-house validation (real labels + wrong-article copies) ROC-AUC {auc:.3f}", flush=True)

    fit_started = time.monotonic()
    encoder.fit(train, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, on_eval=on_eval,
                eval_every=args.eval_every)
    fit_minutes = (time.monotonic() - fit_started) / 60
    on_eval(int(math.ceil(len(train) / args.batch_size) * args.epochs))

    scoring_started = time.monotonic()
    inhouse_scores = encoder.predict(inhouse_pairs)
    per_comment_ms = (time.monotonic() - scoring_started) * 1000 / len(inhouse_pairs)
    pairs_inhouse = measure(inhouse_scores, inhouse_pairs)
    pairs_globe = measure(encoder.predict(globe_pairs), globe_pairs)
    y_test = np.array([r.off_topic for r in inhouse_test])
    test_auc = float(roc_auc_score(y_test, encoder.predict(inhouse_test)))
    served_pairs_inhouse = measure(served.predict_proba(inhouse_pairs)[:, 2], inhouse_pairs)
    served_pairs_globe = measure(served.predict_proba(globe_pairs)[:, 2], globe_pairs)
    served_test_auc = float(roc_auc_score(y_test, served.predict_proba(inhouse_test)[:, 2]))
    served_val_auc = float(roc_auc_score(y_val, served.predict_proba(validation)[:, 2]))
    command = (f".venv/bin/python -m bench.offtopic_cross_encoder --rows {args.rows} --epochs {args.epochs} "
               f"--max-length {args.max_length} --batch-size {args.batch_size} --lr {args.lr} --seed {args.seed} "
               f"--compare {args.compare}")

    def pair_cells(result) -> str:  # type: ignore[no-untyped-def]
        return f"{result.auc:.3f} | {result.copy_higher:.1%} [{result.low:.1%}, {result.high:.1%}]"

    rows = [
        (f"in-house test wrong-article pairs ({pairs_inhouse.pairs} comments)",
         pair_cells(pairs_inhouse), pair_cells(served_pairs_inhouse)),
        (f"Globe and Mail test wrong-article pairs ({pairs_globe.pairs} comments)",
         pair_cells(pairs_globe), pair_cells(served_pairs_globe)),
        (f"in-house test, real labels ({len(y_test)} comments, {int(y_test.sum())} off topic)",
         f"{test_auc:.3f} | –", f"{served_test_auc:.3f} | –"),
        (f"in-house validation, real labels and wrong-article copies ({len(y_val)} rows)",
         f"{history[-1][1]:.3f} | –", f"{served_val_auc:.3f} | –"),
    ]
    off = sum(r.off_topic == 1 for r in train)
    lines = [
        f"A cross-encoder for off_topic alone, fine-tuned from the shipped all-MiniLM-L6-v2 on {len(train)} of minilm.toml's "
        f"training rows with an off_topic label ({off} off topic), {args.epochs} epoch(s), {fit_minutes:.0f} minutes of "
        f"fine-tuning ({(time.monotonic() - started) / 60:.0f} in all); measured {dt.date.today()} on {machine()}.",
        f"Command: `{command}`.",
        "",
        f"| rows | cross-encoder: ROC-AUC | copy higher | `{args.compare.resolve().name}` as served: ROC-AUC | copy higher |",
        "|---|---|---|---|---|",
        *(f"| {name} | {mine} | {theirs} |" for name, mine, theirs in rows),
        "",
        "In-house validation ROC-AUC (real labels and wrong-article copies) by step: "
        + ", ".join(f"{step}: {auc:.3f}" for step, auc in history) + ".",
        f"PyTorch fp32 on 2 threads scored the in-house pairs at {per_comment_ms:.1f} ms a comment in batches of 64.",
    ]
    write_section("offtopic-cross-encoder", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main()
