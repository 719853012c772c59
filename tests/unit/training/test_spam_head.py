"""The spam head's choice of strength and its training rows."""

from __future__ import annotations

import random

import numpy as np
import pytest

from labels.schema import LabelledComment
from threadguard.errors import ConfigError
from training.spam import OFFERS, offer_of, spam_text
from training.spam_head import MAX_VALIDATION_LIFT, choose_spam_head, training_texts, validation_texts


def test_offer_of_names_the_offer_of_every_generated_pitch() -> None:
    rng = random.Random(4)
    seen = set()
    for i in range(400):
        text = spam_text(rng, "Trade talks stall over steel tariffs" if i % 2 else None)
        offer = offer_of(text)
        assert offer >= 0 and OFFERS[offer].split("{")[0][:12] in text
        seen.add(offer)
    assert seen == set(range(len(OFFERS)))
    assert offer_of("The council voted seven to four.") == -1


def _clusters(rng: np.random.Generator, dim: int = 16) -> tuple[np.ndarray, list[int], np.ndarray]:
    """Pitches around one direction (six offers, each its own offset), comments spread elsewhere."""
    pitch = np.zeros(dim)
    pitch[0] = 6.0
    offsets = rng.normal(scale=0.7, size=(6, dim))
    offers = [i % 6 for i in range(240)]
    pitches = np.array([pitch + offsets[o] + rng.normal(scale=0.3, size=dim) for o in offers])
    comments = rng.normal(size=(800, dim))
    return pitches, offers, comments


def test_choice_keeps_validation_lift_within_the_cap_and_takes_the_best_held_out_recall_there() -> None:
    rng = np.random.default_rng(5)
    pitches, offers, comments = _clusters(rng)
    # validation: ordinary comments, plus 3 % that lean toward the pitch direction (money talk): a loose head lifts them
    leaning = rng.normal(size=(30, pitches.shape[1]))
    leaning[:, 0] += 2.0
    validation = np.vstack([rng.normal(size=(970, pitches.shape[1])), leaning])
    fit = choose_spam_head(pitches, offers, comments, validation, seed=0)
    allowed = [c for c, lift in fit.lifted.items() if lift <= MAX_VALIDATION_LIFT]
    assert allowed and len(allowed) < len(fit.lifted)  # the cap ruled the loosest strengths out
    best = max(fit.recall[c] for c in allowed)
    assert fit.strength == min(c for c in allowed if fit.recall[c] == best)  # best held-out recall, then the smaller C
    assert fit.recall[fit.strength] > 0.8  # pitches of offers it never saw
    assert fit.report()["rows"] == {"pitches": 240, "negatives": 800, "validation": 1000}
    assert fit.weight.shape == (pitches.shape[1],)


def test_when_every_strength_lifts_too_much_the_least_lifting_is_kept() -> None:
    rng = np.random.default_rng(6)
    pitches, offers, comments = _clusters(rng)
    validation = pitches[:50] + rng.normal(scale=0.1, size=pitches[:50].shape)  # "validation comments" that are pitches
    fit = choose_spam_head(pitches, offers, comments, validation, seed=0, strengths=(0.01, 1.0))
    assert all(lift > MAX_VALIDATION_LIFT for lift in fit.lifted.values())
    assert fit.strength == min(fit.lifted, key=lambda c: (fit.lifted[c], c))


class _Plain:
    """A scorer that does not normalise."""

    @staticmethod
    def as_trained(rows):  # type: ignore[no-untyped-def]
        return rows


def _row(i: int, body: str, source: str, off_topic: int | None) -> LabelledComment:
    return LabelledComment(id=str(i), source=source, split="train", thread_id="t", body=body, off_topic=off_topic)


def test_training_texts_take_pitches_against_comments_not_labelled_off_topic() -> None:
    rows = [_row(0, "Buy  coins at coin.example", "synthetic_spam", 1), _row(1, "Buy coins at coin.example", "synthetic_spam", 1),
            _row(2, "The mayor lied again.", "inhouse", 0), _row(3, "The mayor lied again.", "inhouse", None),
            _row(4, "Superior Trading System, search it.", "inhouse", 1), _row(5, "You dope.", "kaggle_insults", None)]
    pitches, negatives = training_texts(_Plain(), rows, seed=0)
    assert pitches == ["Buy coins at coin.example"]  # whitespace joined as the encoder reads it, then deduplicated
    assert negatives == ["The mayor lied again.", "You dope."]  # the real pitch labelled off-topic is no negative
    assert validation_texts(_Plain(), rows[2:]) == ["The mayor lied again.", "You dope."]
    with pytest.raises(ConfigError, match="synthetic_spam"):
        training_texts(_Plain(), rows[2:], seed=0)
