from __future__ import annotations

import numpy as np

from bench.hatexplain_three_class import predict_classes
from tests.conftest import DATASETS, needs_shared


def test_three_class_mapping_puts_hate_before_insult() -> None:
    probs = np.array([[0.9, 0.9, 0.0], [0.1, 0.7, 0.9], [0.49, 0.49, 1.0]])
    assert predict_classes(probs) == ["hatespeech", "offensive", "normal"]


@needs_shared
def test_hatexplain_three_class_reader_keeps_the_official_test_split() -> None:
    from labels.corpora import CORPORA, hatexplain_three_class, load_corpus

    rows = hatexplain_three_class(DATASETS / CORPORA["hatexplain"].folder)
    assert {label for _, label in rows} == {"hatespeech", "offensive", "normal"}
    ours = [r for r in load_corpus("hatexplain", DATASETS) if r.split == "test"]
    assert len(rows) == len(ours)
    assert sum(label == "hatespeech" for _, label in rows) == sum(r.hate == 1 for r in ours)
