"""How much of the shipped encoder's topic signal a fine-tuned encoder keeps, before any head reads it.

Two measures per model, on the wrong-article pairs of bench.inhouse_pairs (the same rows):

- ROC-AUC of −cosine(comment, article) embeddings alone: the feature the off_topic head is built around. The shipped
  all-MiniLM-L6-v2 is the first row, so a reader sees what fine-tuning took away.
- Topic drift: `training.finetune.topic_gap` (what `transformer.topic_anchor` trains against), the KL divergence
  between softmaxes of each in-house test comment's cosines to its batch's articles, fine-tuned against shipped, at
  the option's temperature, over the own-article rows in batches of 32 drawn in a fixed shuffle (in file order a
  batch would hold one or two threads, and so one or two articles: little for a softmax over articles to tell apart).

Each model's encoder runs as serving runs it (int8 ONNX on CPU when the dir has one), on text normalised as it was trained.

Run: .venv/bin/python -m bench.topic_cosine MODEL_DIR [MODEL_DIR ...]
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from bench.inhouse_pairs import globe_test_pairs, inhouse_test_pairs
from bench.sections import machine, one_line_errors, write_section
from labels.schema import LabelledComment
from serving.context import context_parts
from serving.linear import HasContext
from serving.model import open_scorer
from threadguard.settings import PROJECT_ROOT, Settings

BATCH = 32
# (comment, article) embeddings of items, zeros where an item has no article
Embedder = Callable[[Sequence[HasContext]], tuple[np.ndarray, np.ndarray]]


def shipped_embedder(max_length: int = 128) -> Embedder:
    """The shipped all-MiniLM-L6-v2 in PyTorch fp32, pooled as training pools it, on context_parts' texts."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from serving.transformer import load_tokenizer, pad_batch
    from training.finetune import SHIPPED_MINILM, mean_pool, resolve_base_model

    hf_logging.set_verbosity_error()  # the unused pooler's load report
    path = Path(resolve_base_model(SHIPPED_MINILM))
    model = AutoModel.from_pretrained(path, add_pooling_layer=False).eval()
    tokenizer = load_tokenizer(path / "tokenizer.json", max_length)
    tokenizer.no_padding()

    def embed(texts: Sequence[str]) -> np.ndarray:
        out = []
        for start in range(0, len(texts), BATCH):
            batch = pad_batch([e.ids for e in tokenizer.encode_batch(list(texts[start : start + BATCH]))])
            with torch.inference_mode():
                inputs = {k: torch.from_numpy(v) for k, v in batch.items()}
                out.append(mean_pool(model(**inputs).last_hidden_state, inputs["attention_mask"]).numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def parts(items: Sequence[HasContext]) -> tuple[np.ndarray, np.ndarray]:
        texts = [context_parts(item) for item in items]
        comments = embed([t.comment for t in texts])
        articles = np.zeros_like(comments)
        has = np.array([bool(t.article) for t in texts])
        if has.any():
            articles[has] = embed([t.article for t in texts if t.article])
        return comments, articles

    return parts


def model_embedder(model_dir: Path) -> Embedder:
    scorer = open_scorer(model_dir, device="cpu")

    def parts(items: Sequence[HasContext]) -> tuple[np.ndarray, np.ndarray]:
        embedded = scorer.backend.embed_parts(scorer.as_trained(items))  # with the dir's own context budget
        return embedded.comment, embedded.article

    return parts


def cosines(comments: np.ndarray, articles: np.ndarray) -> np.ndarray:
    a = comments / np.linalg.norm(comments, axis=1, keepdims=True).clip(1e-12)
    b = articles / np.linalg.norm(articles, axis=1, keepdims=True).clip(1e-12)
    return (a * b).sum(1)


def cosine_auc(embedded: tuple[np.ndarray, np.ndarray], rows: Sequence[LabelledComment]) -> tuple[float, float, float]:
    """ROC-AUC of −cosine for off_topic, and the mean cosine under own and wrong articles."""
    cos = cosines(*embedded)
    y = np.array([r.off_topic for r in rows])
    return float(roc_auc_score(y, -cos)), float(cos[y == 0].mean()), float(cos[y == 1].mean())


def topic_drift(embedded: tuple[np.ndarray, np.ndarray], shipped: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean over consecutive batches of `BATCH` rows of training's topic_gap, fine-tuned against shipped."""
    import torch

    from training.finetune import topic_gap

    gaps = []
    for start in range(0, len(embedded[0]) - 1, BATCH):  # (a last batch of one row has no articles to rank: left out)
        part = slice(start, start + BATCH)
        gaps.append(float(topic_gap(*[torch.from_numpy(np.ascontiguousarray(x[part])) for x in (*embedded, *shipped)])))
    return float(np.mean(gaps))


def main(model_dirs: list[Path], datasets_dir: Path | None = None) -> None:
    sets = {"Globe and Mail test": globe_test_pairs(datasets_dir or Settings().datasets_dir), "in-house test": inhouse_test_pairs()}
    # the in-house comments under their own articles, in batches that mix threads as training's length buckets do
    own = np.array([i for i, r in enumerate(sets["in-house test"]) if r.off_topic == 0])
    np.random.default_rng(0).shuffle(own)
    embedders: list[tuple[str, Embedder]] = [("all-MiniLM-L6-v2 as shipped (PyTorch fp32)", shipped_embedder())]
    embedders += [(f"`{d.resolve().name}`", model_embedder(d)) for d in model_dirs]
    shipped_own: tuple[np.ndarray, np.ndarray] | None = None
    lines = [
        f"Raw topic signal of each encoder on the wrong-article pairs of bench.inhouse_pairs; measured {dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.topic_cosine {' '.join(str(d) for d in model_dirs)}`.",
        f"Topic drift: training.finetune.topic_gap against the shipped encoder over the {len(own)} in-house test comments under their "
        f"own articles, batches of {BATCH} in a fixed shuffle (0 for the shipped encoder itself).",
        "",
        "| encoder | " + " | ".join(f"{name}: ROC-AUC of −cosine" for name in sets) + " | mean cosine own / wrong (Globe and Mail) | topic drift |",
        "|---|" + "---|" * len(sets) + "---|---|",
    ]
    for name, embed in embedders:
        cells, means, embedded = [], "", {}
        for set_name, rows in sets.items():
            embedded[set_name] = embed(rows)
            auc, own_mean, wrong_mean = cosine_auc(embedded[set_name], rows)
            cells.append(f"{auc:.3f}")
            if set_name == "Globe and Mail test":
                means = f"{own_mean:.3f} / {wrong_mean:.3f}"
        # the own-article rows' embeddings from the pass above; the shipped encoder's (first in the list) are the reference
        mine = (embedded["in-house test"][0][own], embedded["in-house test"][1][own])
        if shipped_own is None:
            shipped_own = mine
        drift = topic_drift(mine, shipped_own)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {means} | {drift:.3f} |")
    write_section("topic-cosine", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main([Path(p) for p in sys.argv[1:]] or [PROJECT_ROOT / "models" / "current"])
