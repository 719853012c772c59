"""Unintended-bias metrics (Jigsaw definitions) on hand-made scores, and false positives on neutral mentions."""

from __future__ import annotations

import numpy as np
import pytest

from labels.schema import LabelledComment
from training.bias import bias_tables, mentions, neutral_fpr, subgroup_aucs
from training.data import NamedSet
from training.functional import Case


def _row(i: int, body: str, hate: int | None) -> LabelledComment:
    return LabelledComment(id=str(i), source="t", split="test", thread_id="t", body=body, hate=hate)


def test_group_terms_match_whole_words_only() -> None:
    assert mentions("Muslims and Jews met the women's team") == {"Muslim", "Jewish", "women"}
    assert mentions("a gaylord hotel and transport news") == set()


def test_bpsn_falls_when_neutral_mentions_score_like_hate() -> None:
    rows, scores = [], []
    for i in range(20):  # background: hateful comments score 0.9, clean ones 0.1
        rows.append(_row(i, f"some comment {i}", i % 2))
        scores.append(0.9 if i % 2 else 0.1)
    for i in range(20, 40):  # subgroup: neutral mentions score 0.95 (the bias), hateful ones 0.99
        rows.append(_row(i, f"Muslims comment {i}", i % 2))
        scores.append(0.99 if i % 2 else 0.95)
    rows.append(_row(99, "Muslims unlabelled", None))  # not annotated: left out
    scores.append(0.0)
    probs = np.zeros((len(rows), 3))
    probs[:, 0] = scores
    (result,) = subgroup_aucs([NamedSet("s/test", rows)], [probs])
    assert (result.group, result.subgroup_n, result.subgroup_positives) == ("Muslim", 20, 10)
    assert result.subgroup_auc == pytest.approx(1.0)  # within the group the order is right
    assert result.bpsn_auc == pytest.approx(0.0)  # but every neutral mention outranks the background's hate
    assert result.bnsp_auc == pytest.approx(1.0)


def test_neutral_fpr_counts_hate_or_insult_at_the_cut_off() -> None:
    cases = [Case("hate_vs_neutral_mention", f"Muslims live here {i}", {"hate": 0}) for i in range(4)]
    cases.append(Case("dehumanisation", "Muslims are vermin", {"hate": 1}))  # not a neutral mention: ignored
    probs = np.array([[0.6, 0, 0], [0.1, 0.7, 0], [0.1, 0.1, 0.9], [0.0, 0.0, 0.0]])  # off_topic does not count
    (muslim,) = neutral_fpr(lambda picked: probs[: len(picked)], cases)
    assert (muslim.group, muslim.cases, muslim.false_positive_rate, muslim.review_rate) == ("Muslim", 4, 0.5, None)
    # at review thresholds (hate 0.05, insult 0.8): rows 1-3 reach hate's, row 2's insult 0.7 not insult's; row 4 neither
    (at_review,) = neutral_fpr(lambda picked: probs[: len(picked)], cases, review={"hate": 0.05, "insult": 0.8, "off_topic": 0.0})
    assert (at_review.false_positive_rate, at_review.review_rate) == (0.5, 0.75)
    lines = bias_tables([at_review], [])
    assert lines[0].endswith("| sent to review (hate or insult at its review threshold) |") and lines[2] == "| Muslim | 4 | 0.50 | 0.75 |"
    assert "sent to review" not in bias_tables([muslim], [])[0]
