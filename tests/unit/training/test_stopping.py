"""The early-stopping score: grouped by source, the in-domain share weighted, empty groups dropped."""

from __future__ import annotations

import numpy as np

from labels.schema import LabelledComment
from tests.conftest import tiny_config
from training.data import DataBundle, NamedSet
from training.finetune import mean_auc, stopping_score
from training.pipeline import stopping_group_names, stopping_rows


def _rows(source: str, n: int) -> list[LabelledComment]:
    return [LabelledComment(id=f"{source}{i}", source=source, split="validation", thread_id="t", body=f"{source} {i}", hate=i % 2) for i in range(n)]


def test_groups_are_scored_apart_and_weighted() -> None:
    nan = np.nan
    labels = np.array([[0, nan, nan], [1, nan, nan], [0, nan, nan], [1, nan, nan], [0, nan, nan], [0, nan, nan]])
    logits = np.array([[0.1, 0, 0], [0.9, 0, 0], [0.9, 0, 0], [0.1, 0, 0], [0.5, 0, 0], [0.2, 0, 0]])
    groups = np.array([0, 0, 1, 1, 2, 2])  # group 0 ranks perfectly, group 1 backwards, group 2 has one class only
    assert stopping_score(labels, logits, groups, [0.75, 0.25, 0.0]) == 0.75
    assert stopping_score(labels, logits, groups, [0.5, 0.5, 0.5]) == 0.5  # group 2 drops out, the rest re-weighted
    assert stopping_score(labels, logits, np.zeros(6, dtype=int), [1.0]) == mean_auc(labels, logits)


def test_stopping_rows_sample_every_source_and_weight_the_first(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bundle = DataBundle(validation=_rows("inhouse", 30),
                        validation_sets=[NamedSet("inhouse", _rows("inhouse", 30)), NamedSet("olid", _rows("olid", 500)), NamedSet("ethos", _rows("ethos", 50))])
    base = {"name": "t", "kind": "transformer", "data": {"sources": [{"corpus": "olid"}], "report_first": ["inhouse"]}}
    config = tiny_config(tmp_path / "x.jsonl", **base, transformer={"stopping_rows_per_source": 100, "stopping_first_weight": 0.6})
    rows, groups, weights = stopping_rows(config, bundle)
    assert [sum(g == i for g in groups) for i in range(3)] == [30, 100, 50] and len(rows) == 180
    assert weights == [0.6, 0.2, 0.2]
    assert rows == stopping_rows(config, bundle)[0]  # seeded
    plain = tiny_config(tmp_path / "x.jsonl", **base)
    assert stopping_rows(plain, bundle) == (bundle.validation, [0] * 30, [1.0])  # default: the thresholds' rows alone
    assert stopping_group_names(config, bundle) == ["inhouse", "olid", "ethos"]
    assert stopping_group_names(plain, bundle) == ["validation"]


def test_group_label_aucs_keys_every_source_and_label_with_both_classes() -> None:
    from training.finetune import group_label_aucs

    nan = float("nan")
    labels = np.array([[1, 0, nan], [0, 1, nan], [1, 1, nan], [0, 0, nan], [nan, 0, 1], [nan, 0, 0]], dtype=float)
    logits = np.array([[2, 0, 0], [-1, 1, 0], [1, 2, 0], [-2, -1, 0], [0, 0, 3], [0, 0, -3]], dtype=float)
    groups = np.array([0, 0, 0, 0, 1, 1])
    assert group_label_aucs(labels, logits, groups) == {"0/hate": 1.0, "0/insult": 1.0, "1/off_topic": 1.0}
    assert group_label_aucs(labels, logits, groups, ["inhouse", "semeval_cqa"]) == {"inhouse/hate": 1.0, "inhouse/insult": 1.0, "semeval_cqa/off_topic": 1.0}
