"""The spam head: a logistic regression over the frozen encoder's comment embedding that tells a commercial pitch
from a comment, fitted after the encoder is trained (serving/heads.py says how it joins off_topic).

Why a head of its own: off_topic's calibration is fitted on in-domain validation, whose off-topic comments are
drift replies and hold no pitch. There a reply with no parent scores as high as a gold pitch does, so calibration
maps a pitch to about 0.1 and the default allowed the brief's own example. The spam head reads the comment only;
it is trained on the synthetic pitches (training/spam.py: the training rows' pitches, and with
transformer.spam_bare_pitches bare ones of a few words with no link or amount, which only this head reads) against
every distinct training comment not labelled off-topic, and its regularisation is chosen so that it (a) finds
pitches whose offer it never saw (groups of one offer held out together) and (b) lifts few real comments: at most
MAX_VALIDATION_LIFT of the validation comments of every source may reach LIFT_AT, the order of off_topic's review
thresholds. The functional suite's spam cases, written apart from training/spam.py, are the test.

Among the strengths within that cap, recall a few held-out pitches short of the best counts as a tie
(RECALL_SLACK_PITCHES), and the tie goes to the head that lifts the fewest validation comments. Without the slack, one
held-out pitch in 1,437 decided C: the strengths' recalls differ by a pitch or two, and which pitch lands in which fold
is a matter of the seed, while the validation comments a head lifts are reviews a moderator reads for nothing.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from labels.schema import LabelledComment
from serving.context import context_parts
from serving.heads import unit
from threadguard.errors import ConfigError
from training.spam import offer_of, short_pitches

if TYPE_CHECKING:
    from training.data import DataBundle

log = logging.getLogger(__name__)

SPAM_SOURCE = "synthetic_spam"
STRENGTHS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # inverse L2 strength C of the logistic regression
LIFT_AT = 0.1
MAX_VALIDATION_LIFT = 0.01
RECALL_SLACK_PITCHES = 3  # held-out pitches a strength may find fewer of than the best and still tie, its lift then deciding
MAX_NEGATIVES = 15000  # a seeded sample of the distinct training comments: enough to cover the corpora, two minutes of int8 encoding
FOLDS = 5


@dataclass(frozen=True)
class SpamFit:
    """The fitted head, the C chosen, and per C: held-out-offer recall at 0.5 and share of validation comments lifted."""

    weight: np.ndarray
    bias: float
    strength: float
    recall: dict[float, float] = field(default_factory=dict)
    lifted: dict[float, float] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    def report(self) -> dict:
        """What the model dir records (config.json backend.spam_head) and the card prints."""
        return {"C": self.strength, "lift_at": LIFT_AT, "max_validation_lift": MAX_VALIDATION_LIFT,
                "recall_slack_pitches": RECALL_SLACK_PITCHES, "rows": self.rows,
                "held_out_offer_recall": {str(c): round(r, 4) for c, r in self.recall.items()},
                "validation_lifted": {str(c): round(v, 4) for c, v in self.lifted.items()}}


def _comment_texts(scorer, rows: Sequence[LabelledComment]) -> list[str]:  # type: ignore[no-untyped-def]
    """Each row's comment as the encoder reads it in service: normalised where the model normalises, whitespace joined."""
    return [context_parts(item).comment for item in scorer.as_trained(rows)]


def training_texts(scorer, train: Sequence[LabelledComment], *, seed: int, bare_pitches: bool = False) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """(pitches, negatives): distinct synthetic spam comments (with `bare_pitches`, training/spam.py's short ones too),
    and a seeded sample of the distinct comments of every other training row not labelled off-topic (a wrong-article
    copy is a real comment, but its original is already there)."""
    pitches, negatives = candidate_texts(scorer, train, bare_pitches=bare_pitches)
    return pitches, sample_negatives(negatives, seed=seed)


def sample_negatives(negatives: list[str], *, seed: int) -> list[str]:
    """At most MAX_NEGATIVES of the candidate negatives, a seeded sample."""
    return random.Random(seed).sample(negatives, MAX_NEGATIVES) if len(negatives) > MAX_NEGATIVES else negatives


def candidate_texts(scorer, train: Sequence[LabelledComment], *, bare_pitches: bool = False) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
    """(pitches, every distinct negative): what training_texts samples from, read once whatever the seed."""
    spam = [r for r in train if r.source == SPAM_SOURCE]
    if not spam:
        raise ConfigError("transformer.spam_head needs synthetic pitches to learn from: set data.synthetic_spam above 0")
    pitches = list(dict.fromkeys(_comment_texts(scorer, spam + (bare_pitch_rows() if bare_pitches else []))))
    taken = set(pitches)
    others = _comment_texts(scorer, [r for r in train if r.source != SPAM_SOURCE and r.off_topic != 1])
    negatives = [t for t in dict.fromkeys(others) if t and t not in taken]
    if not negatives:
        raise ConfigError("transformer.spam_head needs training comments that are not off-topic to tell pitches from")
    return pitches, negatives


def bare_pitch_rows() -> list[LabelledComment]:
    """training/spam.py's short pitches as rows with no article: the head reads the comment alone. The suite's cases
    are left out, so its short pitches stay a test."""
    from training.functional import SUITE, load_suite

    suite = {case.body for case in load_suite(SUITE)} if SUITE.is_file() else set()
    return [LabelledComment(id=f"short-pitch-{i:04d}", source=SPAM_SOURCE, split="train", thread_id="short-pitches", body=text,
                            hate=0, insult=0, off_topic=1)
            for i, text in enumerate(short_pitches(forbidden=suite))]


def validation_rows(bundle: DataBundle) -> list[LabelledComment]:
    """The validation rows whose comments a spam head must leave alone: every source's (validation_sets), or the
    validation split where the bundle names no sets."""
    return [r for named in bundle.validation_sets for r in named.rows] or list(bundle.validation)


def validation_texts(scorer, validation: Sequence[LabelledComment]) -> list[str]:  # type: ignore[no-untyped-def]
    """Distinct comments of validation rows not labelled off-topic: the comments a spam head must leave alone."""
    return [t for t in dict.fromkeys(_comment_texts(scorer, [r for r in validation if r.off_topic != 1])) if t]


@dataclass(frozen=True)
class StrengthSweep:
    """Per C: held-out-offer recall at 0.5 over `held_out` pitches, the share of validation comments the full fit lifts
    to LIFT_AT, and that full fit."""

    recall: dict[float, float]
    lifted: dict[float, float]
    fitted: dict  # type: ignore[type-arg]  # C -> fitted LogisticRegression
    held_out: int


def sweep_strengths(pitches: np.ndarray, offers: Sequence[int], negatives: np.ndarray, validation: np.ndarray, *, seed: int,
                    strengths: Sequence[float] = STRENGTHS) -> StrengthSweep:
    """Fit on scaled unit embeddings: for each C, recall at 0.5 on pitches of held-out offers (negatives folded at
    random), then the full fit and the share of `validation` it lifts to LIFT_AT."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([pitches, negatives])
    y = np.r_[np.ones(len(pitches)), np.zeros(len(negatives))]
    rng = np.random.default_rng(seed)
    offer_ids = sorted(set(offers))
    fold_of_offer = {o: i % FOLDS for i, o in enumerate(rng.permutation(offer_ids))}
    folds = np.r_[[fold_of_offer[o] for o in offers], rng.integers(0, FOLDS, len(negatives))]
    recall: dict[float, float] = {}
    lifted: dict[float, float] = {}
    fitted = {}
    total = 0
    for c in strengths:
        hits, total = 0, 0
        for k in range(FOLDS):
            held = folds == k
            if not (held & (y == 1)).any() or len(set(y[~held])) < 2:
                continue
            model = LogisticRegression(C=c, max_iter=2000).fit(x[~held], y[~held])
            hits += int((model.predict_proba(x[held & (y == 1)])[:, 1] >= 0.5).sum())
            total += int((held & (y == 1)).sum())
        fitted[c] = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        recall[c] = hits / total if total else 0.0
        lifted[c] = float((fitted[c].predict_proba(validation)[:, 1] >= LIFT_AT).mean()) if len(validation) else 0.0
        log.info("spam head C=%g: held-out-offer recall %.4f, validation lifted to %.2f: %.4f", c, recall[c], LIFT_AT, lifted[c])
    return StrengthSweep(recall=recall, lifted=lifted, fitted=fitted, held_out=total)


def pick_strength(recall: dict[float, float], lifted: dict[float, float], *, held_out: int, slack: int = RECALL_SLACK_PITCHES) -> float:
    """Among the C within MAX_VALIDATION_LIFT, those whose held-out recall is within `slack` of `held_out` pitches of
    the best; of them the least lifting, the smaller C on a tie. If every C lifts too much, the least lifting."""
    strengths = sorted(recall)
    allowed = [c for c in strengths if lifted[c] <= MAX_VALIDATION_LIFT]
    if not allowed:
        return min(strengths, key=lambda c: (lifted[c], c))
    best = max(recall[c] for c in allowed)
    # compared in whole pitches, so rounding in the recall fractions cannot move a strength in or out of the tie
    near = [c for c in allowed if round((best - recall[c]) * held_out) <= slack]
    return min(near, key=lambda c: (lifted[c], c))


def choose_spam_head(pitches: np.ndarray, offers: Sequence[int], negatives: np.ndarray, validation: np.ndarray, *, seed: int,
                     strengths: Sequence[float] = STRENGTHS) -> SpamFit:
    """The head of the strength `pick_strength` keeps from `sweep_strengths`."""
    swept = sweep_strengths(pitches, offers, negatives, validation, seed=seed, strengths=strengths)
    chosen = pick_strength(swept.recall, swept.lifted, held_out=swept.held_out)
    model = swept.fitted[chosen]
    return SpamFit(weight=model.coef_[0].astype(np.float32), bias=float(model.intercept_[0]), strength=chosen, recall=swept.recall,
                   lifted=swept.lifted, rows={"pitches": len(pitches), "negatives": len(negatives), "validation": len(validation)})


def fit_spam_head(scorer, train: Sequence[LabelledComment], validation: Sequence[LabelledComment], *, seed: int,  # type: ignore[no-untyped-def]
                  bare_pitches: bool = False) -> SpamFit:
    """The spam head for the scorer's encoder, embedded with the runtime it serves with."""
    pitches, negatives = training_texts(scorer, train, seed=seed, bare_pitches=bare_pitches)
    valid = validation_texts(scorer, validation)
    log.info("spam head: embedding %d pitches, %d training comments and %d validation comments", len(pitches), len(negatives), len(valid))
    backend = scorer.backend
    embed = lambda texts: unit(backend.embed(texts))  # noqa: E731
    empty = np.zeros((0, 0), np.float32)
    return choose_spam_head(embed(pitches), [offer_of(t) for t in pitches], embed(negatives), embed(valid) if valid else empty, seed=seed)
