"""The int8-sides bench's split scoring is serving's scoring when both sides use one backend, and differs when not."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.int8_sides import scoring_sides, split_logits
from labels.sets import read_jsonl
from serving.model import open_scorer
from threadguard.settings import PROJECT_ROOT


def test_split_logits_equal_serving_on_one_backend_and_follow_each_side(tiny_transformer_dir: Path) -> None:
    rows = [r for r in read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl")[:64] if r.parent_body or r.article_title]
    fp32 = open_scorer(tiny_transformer_dir, device="cpu", runtime="onnx").backend
    int8 = open_scorer(tiny_transformer_dir, device="cpu", runtime="onnx-int8").backend
    int8.read_whole_comments = False  # the split reads first windows
    served = int8.logits(rows)
    assert np.allclose(split_logits(int8, int8, int8, rows), served, atol=1e-6)
    context_fp32 = split_logits(int8, int8, fp32, rows)
    # the comment labels read the comment alone; off_topic reads the context too
    assert np.allclose(context_fp32[:, :2], served[:, :2], atol=1e-6)
    assert not np.allclose(context_fp32[:, 2], served[:, 2], atol=1e-6)


def test_scoring_sides_changes_what_the_scorer_returns_and_restores_it(tiny_transformer_dir: Path) -> None:
    """The patch must reach predict_proba (it once patched a method predict_proba no longer called, and the bench
    measured the all-int8 scorer three times)."""
    rows = [r for r in read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl")[:64] if r.article_title]
    fp32 = open_scorer(tiny_transformer_dir, device="cpu", runtime="onnx")
    int8 = open_scorer(tiny_transformer_dir, device="cpu", runtime="onnx-int8")
    int8.backend.read_whole_comments = fp32.backend.read_whole_comments = False
    before = int8.predict_proba(rows)
    with scoring_sides(int8.backend, fp32.backend, fp32.backend):
        swapped = int8.predict_proba(rows)
    assert np.allclose(swapped, fp32.predict_proba(rows), atol=1e-6)  # both sides fp32: fp32's scores
    assert not np.allclose(swapped, before, atol=1e-6)
    assert np.array_equal(int8.predict_proba(rows), before)  # restored
