"""The spam head's choice of strength and its training rows."""

from __future__ import annotations

import random

import numpy as np
import pytest

from labels.schema import LabelledComment
from threadguard.errors import ConfigError
from training.spam import OFFERS, SHORT_OFFERS, offer_of, short_pitches, spam_text
from training.spam_head import (
    MAX_VALIDATION_LIFT,
    RECALL_SLACK_PITCHES,
    bare_pitch_rows,
    choose_spam_head,
    pick_strength,
    training_texts,
    validation_texts,
)


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


def test_bare_pitches_cover_every_offer_in_a_few_words_and_name_it() -> None:
    texts = short_pitches(forbidden=set())
    assert len(SHORT_OFFERS) == len(OFFERS) and len(texts) == len(set(texts))
    assert {offer_of(t) for t in texts} == set(range(len(OFFERS)))
    for text in texts:  # the offer named is the one whose brief the text opens with
        assert any(text.startswith(short.split("{")[0]) for short in SHORT_OFFERS[offer_of(text)])
    assert max(len(t.split()) for t in texts) <= 10
    assert "Free forex signals!" in texts and "Free forex signals!" not in short_pitches(forbidden={"Free forex signals!"})


def test_the_heads_bare_pitches_leave_the_suites_cases_out_and_carry_no_article(monkeypatch: pytest.MonkeyPatch) -> None:
    import training.spam

    # a brief that is word for word one of the suite's short pitches: generated, but never fitted on
    monkeypatch.setattr(training.spam, "SHORT_OFFERS", (*SHORT_OFFERS, ("Buy gold now!", "Gold bars, best price.")))
    rows = bare_pitch_rows()
    bodies = {r.body for r in rows}
    assert "Buy gold now!" not in bodies and {"Buy gold now! DM me.", "Gold bars, best price."} <= bodies
    assert all(r.off_topic == 1 and r.hate == 0 and r.insult == 0 and r.article_title is None and r.source == "synthetic_spam" for r in rows)


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
    near = [c for c in allowed if round((best - fit.recall[c]) * 240) <= RECALL_SLACK_PITCHES]
    assert fit.strength in near and fit.lifted[fit.strength] == min(fit.lifted[c] for c in near)
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


def test_recall_a_few_pitches_short_of_the_best_ties_and_the_least_lifting_head_wins_it() -> None:
    held_out = 1437
    recall = {c: hits / held_out for c, hits in {0.01: 1431, 0.03: 1432, 0.1: 1431, 0.3: 1425, 1.0: 1433}.items()}
    lifted = {0.01: 0.0026, 0.03: 0.0018, 0.1: 0.0006, 0.3: 0.0001, 1.0: 0.02}
    # 1.0 finds the most but lifts past the cap; of the rest 0.03 is best, 0.01 and 0.1 one pitch short, 0.3 seven short
    assert pick_strength(recall, lifted, held_out=held_out) == 0.1
    assert pick_strength(recall, lifted, held_out=held_out, slack=0) == 0.03  # no slack: best recall alone
    assert pick_strength(recall, lifted, held_out=held_out, slack=7) == 0.3  # a wider tie reaches the least lifting


def test_equal_lift_among_the_tied_goes_to_the_smaller_strength() -> None:
    recall = {0.01: 0.99, 0.1: 0.99, 1.0: 0.5}
    lifted = {0.01: 0.001, 0.1: 0.001, 1.0: 0.0}
    assert pick_strength(recall, lifted, held_out=100) == 0.01


def test_a_choice_made_again_from_its_own_record_is_the_same() -> None:
    rng = np.random.default_rng(7)
    pitches, offers, comments = _clusters(rng)
    fit = choose_spam_head(pitches, offers, comments, comments[:200], seed=3)
    again = choose_spam_head(pitches, offers, comments, comments[:200], seed=3)
    assert fit.strength == again.strength and np.array_equal(fit.weight, again.weight)
    report = fit.report()
    assert report["recall_slack_pitches"] == RECALL_SLACK_PITCHES
    assert pick_strength(fit.recall, fit.lifted, held_out=report["rows"]["pitches"]) == report["C"]


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
    with_bare, same_negatives = training_texts(_Plain(), rows, seed=0, bare_pitches=True)
    assert with_bare == pitches + [row.body for row in bare_pitch_rows()] and same_negatives == negatives
    assert negatives == ["The mayor lied again.", "You dope."]  # the real pitch labelled off-topic is no negative
    assert validation_texts(_Plain(), rows[2:]) == ["The mayor lied again.", "You dope."]
    with pytest.raises(ConfigError, match="synthetic_spam"):
        training_texts(_Plain(), rows[2:], seed=0)


def test_the_card_says_which_rule_chose_the_recorded_strength() -> None:
    from training.card import _spam_choice

    assert "smaller on a tie" in _spam_choice({"C": 0.03}) and "pitches of the best" not in _spam_choice({"C": 0.03})  # dirs made before the slack
    assert "within 3 pitches of the best" in _spam_choice({"C": 0.1, "recall_slack_pitches": 3})
