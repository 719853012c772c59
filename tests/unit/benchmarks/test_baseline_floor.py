"""bench.baseline_floor's verdicts: above, below, tie and too few read off the paired interval; a baseline that
trained on a held-out split's corpus is marked and left out of the count."""

from __future__ import annotations

import numpy as np

from bench.baseline_floor import floor_rows, render
from labels.schema import LabelledComment
from training.data import NamedSet


def _set(name: str, hate: list[int], held_out: str | None = None) -> NamedSet:
    rows = [LabelledComment(id=f"{name}{i}", source="c", split="test", thread_id="t", body=f"c{i}", hate=h) for i, h in enumerate(hate)]
    return NamedSet(name, rows, held_out=held_out)


def _scores(signal: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    out = rng.random((len(signal), 3)).astype(np.float32)
    out[:, 0] = strength * signal + rng.normal(0, 1, len(signal))
    return out


def test_verdicts_follow_the_paired_interval() -> None:
    rng = np.random.default_rng(5)
    y = (rng.random(400) < 0.3).astype(int)
    few = np.zeros(60, dtype=int)
    few[:3] = 1
    sets = [_set("strong/test", y.tolist()), _set("weak/test", y.tolist()), _set("same/test", y.tolist()), _set("few/test", few.tolist())]
    fixed = _scores(y, rng, 1.0)
    model = [_scores(y, rng, 3.0), _scores(y, rng, 0.0), fixed, _scores(few, rng, 3.0)]
    baseline = [_scores(y, rng, 0.5), _scores(y, rng, 2.0), fixed.copy(), _scores(few, rng, 0.0)]
    rows = floor_rows(sets, model, baseline, baseline_corpora=frozenset(), n=300)
    assert [(r.split, r.label, r.verdict) for r in rows] == [
        ("strong/test", "hate", "above"), ("weak/test", "hate", "below"), ("same/test", "hate", "tie"), ("few/test", "hate", "too few")]
    assert rows[0].model_auc is not None and rows[0].model_auc > rows[0].baseline_auc  # type: ignore[operator]
    assert "below on 1 (weak/test hate)" in "\n".join(render("m", {"b": rows}))


def test_a_baseline_trained_on_the_held_out_corpus_is_marked_and_not_counted() -> None:
    rng = np.random.default_rng(6)
    y = (rng.random(300) < 0.4).astype(int)
    sets = [_set("spans/test (held out)", y.tolist(), held_out="spans")]
    model, baseline = [_scores(y, rng, 0.2)], [_scores(y, rng, 3.0)]
    marked = floor_rows(sets, model, baseline, baseline_corpora=frozenset({"spans"}), n=300)
    fair = floor_rows(sets, model, baseline, baseline_corpora=frozenset({"other"}), n=300)
    assert marked[0].in_domain_baseline and not fair[0].in_domain_baseline
    assert marked[0].verdict == fair[0].verdict == "below"
    text = "\n".join(render("m", {"b": marked}))
    assert "`b` † " in text and "below on 0" in text and "The baseline trained on this held-out corpus" in text
    assert "below on 1 (spans/test (held out) hate)" in "\n".join(render("m", {"b": fair}))
