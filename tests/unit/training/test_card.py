"""The model card's known limits: what the model's kind cannot see, and where its own measurements are weak."""

from __future__ import annotations

from typing import Any

from threadguard.artifact import EvalSetMetrics, LabelMetrics, Metrics, ModelConfig
from training.card import WEAK_AUC, WEAK_PASS, _limit_lines


def _config(kind: str, backend: dict[str, Any], transformer: dict[str, Any] | None = None) -> ModelConfig:
    return ModelConfig(name="m", version="v", kind=kind, created_at="2026-12-06T00:00:00+00:00", backend=backend,
                       train_config={"transformer": transformer or {}}, library_versions={}, data=[])


def _label(auc: float | None) -> LabelMetrics:
    at = {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    return LabelMetrics(n=100, positives=10, roc_auc=auc, pr_auc=None, review=at, reject=at)


METRICS = Metrics(
    eval_sets=[EvalSetMetrics(name="inhouse/test", sha256="x", rows=100, labels={"hate": _label(0.86), "insult": _label(WEAK_AUC - 0.01)}),
               EvalSetMetrics(name="seed", sha256="y", rows=10, labels={"off_topic": _label(None)})],
    functional={"overall": 0.95, "functionalities": [
        {"name": "slur", "n": 18, "positives": 18, "positive_pass": WEAK_PASS - 0.1, "negatives": 0, "negative_pass": None},
        {"name": "counter_speech", "n": 42, "positives": 0, "positive_pass": None, "negatives": 42, "negative_pass": 1.0},
        {"name": "profanity_no_target", "n": 5, "positives": 5, "positive_pass": 1.0, "negatives": 10, "negative_pass": 0.5}]})


def test_a_transformer_card_names_its_window_its_spam_heads_gap_and_its_weak_measurements() -> None:
    lines = "\n".join(_limit_lines(_config("transformer", {"max_length": 128, "spam_head": {"C": 0.1}}), METRICS))
    assert "reads 128 tokens at a time" in lines and "n-grams" not in lines
    assert '"Buy gold now!"' in lines
    assert f"ROC-AUC under {WEAK_AUC}: inhouse/test insult {WEAK_AUC - 0.01:.3f}." in lines  # hate 0.86 and a set with no AUC left out
    assert f"passed under {WEAK_PASS}: slur {WEAK_PASS - 0.1:.2f}; profanity_no_target 0.50." in lines  # the weaker side of the two


def test_a_linear_card_names_its_n_grams_and_a_card_without_a_spam_head_or_with_bare_pitches_no_spam_gap() -> None:
    linear = "\n".join(_limit_lines(_config("linear", {}), Metrics(eval_sets=[])))
    assert "n-grams" in linear and "tokens at a time" not in linear and "Buy gold" not in linear and "ROC-AUC under" not in linear
    bare = "\n".join(_limit_lines(_config("transformer", {"spam_head": {"C": 0.03}}, {"spam_bare_pitches": True}), METRICS))
    assert "Buy gold" not in bare
    without = "\n".join(_limit_lines(_config("transformer", {}), METRICS))
    assert "Buy gold" not in without


def test_the_cards_suite_table_shows_the_review_columns_where_the_metrics_carry_them() -> None:
    from training.card import render_card

    config = _config("transformer", {"max_length": 128})
    old = render_card(config, {}, METRICS)  # a dir made before the suite was tallied at review thresholds
    assert "| functionality | cases | pass (expects label) | pass (expects none) |\n" in old and "held at review" not in old
    rows = [r | {"positive_review": None if r["positive_pass"] is None else 1.0, "negative_review": None if r["negative_pass"] is None else 0.25}
            for r in METRICS.functional["functionalities"]]  # type: ignore[index]
    new = render_card(config, {}, METRICS.model_copy(update={"functional": {"overall": 0.95, "functionalities": rows}}))
    assert "| functionality | cases | pass (expects label) | pass (expects none) | held at review | left alone at review |" in new
    assert "| counter_speech | 42 | – | 1.00 (42) | – | 0.25 (42) |" in new and "| slur | 18 | 0.80 (18) | – | 1.00 (18) | – |" in new
