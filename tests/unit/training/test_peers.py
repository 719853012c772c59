"""Peer tools run offline here: hatesonar with its StringNormalizer's locale set to C.UTF-8."""

from __future__ import annotations

import numpy as np
import pytest

from labels.schema import LabelledComment
from training.report import hatesonar_predict, hatesonar_session


def test_hatesonar_scores_comments_once_its_locale_is_patched() -> None:
    api = pytest.importorskip("hatesonar.api")
    texts = ["you are a stupid idiot and a moron", "Thanks, a fair summary of the trade talks."]
    rows = [LabelledComment(id=str(i), source="t", split="test", thread_id="t", body=t) for i, t in enumerate(texts)]
    probs = hatesonar_predict(hatesonar_session(api.DEFAULT_MODEL_FILE))(rows)
    assert probs.shape == (2, 3) and np.isnan(probs[:, 2]).all()  # no off_topic from a hate/offensive classifier
    assert ((probs[:, 0] >= 0) & (probs[:, 0] <= probs[:, 1]) & (probs[:, 1] <= 1.0001)).all()  # insult = P(hate) + P(offensive)
    assert probs[0, 1] > probs[1, 1]
