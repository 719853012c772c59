"""Which side of the bi-encoder int8's decision flips come from: the comment's embedding or its context's.

The scorer embeds the comment, the article and the parent with one encoder, then applies the heads in NumPy
(serving/transformer.py). This scores the parity test's sample (the first 1,000 in-house comments) three ways, with
the comment side and the context side (article and parent) each embedded by fp32 ONNX or by int8 ONNX, and counts
decisions (allow / review / reject) equal to fp32 ONNX's. Every text is embedded afresh (no article cache), so the
all-int8 row can differ slightly from the parity test's figure. Needs a model dir with `model.onnx`.

Run: .venv/bin/python -m bench.int8_sides MODEL_DIR
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bench.int8_agreement import SAMPLE, agreement
from bench.sections import machine, one_line_errors, write_section
from labels.sets import read_jsonl
from serving.context import context_parts
from serving.model import open_scorer
from serving.transformer import ONNX_FILE, PartEmbeddings, TransformerBackend
from threadguard.errors import ArtifactError
from threadguard.settings import PROJECT_ROOT


def split_parts(heads_of: TransformerBackend, comment_side: TransformerBackend, context_side: TransformerBackend, items: Sequence) -> PartEmbeddings:
    """serving's part embeddings (first windows) with the comment embedded by one backend and the article and parent by another."""
    parts = [context_parts(item, heads_of.budget) for item in items]
    comments = comment_side.embed([p.comment for p in parts])
    has_a = np.array([bool(p.article) for p in parts])
    has_p = np.array([bool(p.parent) for p in parts])
    articles, parents = np.zeros_like(comments), np.zeros_like(comments)
    if has_a.any():
        articles[has_a] = context_side.embed([p.article for p in parts if p.article])
    if has_p.any():
        parents[has_p] = context_side.embed([p.parent for p in parts if p.parent])
    return PartEmbeddings(comments, articles, parents, has_a, has_p)


def split_logits(heads_of: TransformerBackend, comment_side: TransformerBackend, context_side: TransformerBackend, items: Sequence) -> np.ndarray:
    """serving's logits (first windows) with the comment embedded by one backend and the article and parent by another."""
    return heads_of.heads.logits(*split_parts(heads_of, comment_side, context_side, items))


@contextmanager
def scoring_sides(backend: TransformerBackend, comment_side: TransformerBackend, context_side: TransformerBackend) -> Iterator[None]:
    """`backend` (this instance only) scores with its comments embedded by one side and their context by the other; its
    calibration, spam head and the scorer's thresholds still apply. Later windows of long comments are not read."""
    def logits(items: Sequence, windows: bool | None = None) -> tuple[np.ndarray, PartEmbeddings, np.ndarray]:
        parts = split_parts(backend, comment_side, context_side, items)
        return backend.heads.logits(*parts), parts, np.zeros(len(items), dtype=np.float32)

    backend._logits = logits  # type: ignore[method-assign]
    try:
        yield
    finally:
        del backend._logits


def main(model_dir: Path) -> None:
    if not (model_dir / ONNX_FILE).is_file():
        raise ArtifactError(f"{model_dir} has no {ONNX_FILE}: rebuild the model with `threadguard train` first")
    rows = read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl")[:SAMPLE]
    fp32, int8 = open_scorer(model_dir, device="cpu", runtime="onnx"), open_scorer(model_dir, device="cpu", runtime="onnx-int8")
    fp32.backend.read_whole_comments = False  # the split scoring reads first windows: so does the reference
    reference = fp32.score(rows)
    backends = {"fp32": fp32.backend, "int8": int8.backend}
    lines = [
        f"Model `{model_dir.name}`, the first {len(rows)} in-house comments (the parity test's sample); measured {dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.int8_sides {model_dir}`.",
        "",
        "| comment embedded by | article and parent embedded by | decisions equal to fp32 |",
        "|---|---|---|",
    ]
    backend = int8.backend
    for comment, context in (("int8", "int8"), ("int8", "fp32"), ("fp32", "int8")):
        with scoring_sides(backend, backends[comment], backends[context]):  # type: ignore[arg-type]
            share = agreement(reference, int8.score(rows))
        lines.append(f"| {comment} | {context} | {share:.1%} |")
        print(lines[-1], flush=True)
    write_section("int8-sides", "\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main(Path(sys.argv[1]))
