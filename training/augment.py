"""Counterfactual identity augmentation: copies of training comments with the identity group swapped for another.

A model that learns "Muslims" or "Jews" as a hate signal flags neutral mentions (low BPSN AUC, high false
positive rates on neutral mentions in docs/benchmarks.md). Copying each training comment that names a group with
another group in its place, keeping every label, shows the model the same hateful and the same neutral sentences
about every group, so the group word alone stops predicting the label (counterfactual data augmentation).
Only unambiguous group words are swapped: "black", "white", "men" and "women" also have everyday meanings that a
swap would garble.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from labels.schema import LabelledComment

PLURALS = ("Muslims", "Jews", "Christians", "blacks", "whites", "Asians", "Latinos", "Mexicans", "Arabs", "gays", "lesbians", "immigrants", "refugees")
ADJECTIVES = ("Muslim", "Jewish", "Christian", "Asian", "Latino", "Arab", "gay", "lesbian")
_TERMS = {t.lower(): PLURALS for t in PLURALS} | {t.lower(): ADJECTIVES for t in ADJECTIVES}
_PATTERN = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _TERMS), key=len, reverse=True)) + r")\b", re.IGNORECASE)


def _swap(text: str, rng: random.Random) -> str | None:
    """The text with every mention of its first group replaced by one other group of the same kind, or None."""
    first = _PATTERN.search(text)
    if first is None:
        return None
    source = first.group(1).lower()
    kind = _TERMS[source]
    target = rng.choice([t for t in kind if t.lower() != source])

    def replace(match: re.Match[str]) -> str:
        if match.group(1).lower() != source:
            return match.group(1)
        word = match.group(1)
        if word.isupper():
            return target.upper()
        return target[0].upper() + target[1:] if word[0].isupper() else target  # proper nouns keep their capital

    return _PATTERN.sub(replace, text)


def identity_counterfactuals(rows: Sequence[LabelledComment], weights: Sequence[float], *, share: float, seed: int,
                             forbidden: set[str]) -> tuple[list[LabelledComment], list[float]]:
    """Counterfactual copies of up to `share` of the rows that name a group (labels and weight kept); texts in
    `forbidden` (evaluation-only corpora) are never produced."""
    rng = random.Random(seed)
    copies, copy_weights = [], []
    for row, weight in zip(rows, weights, strict=True):
        if rng.random() >= share:
            continue
        swapped = _swap(row.body, rng)
        if swapped is None or swapped == row.body or swapped in forbidden:
            continue
        copies.append(row.model_copy(update={"id": f"{row.id}~cf", "body": swapped}))
        copy_weights.append(weight)
    return copies, copy_weights


# Typos: the misspellings commenters make, by accident or to slip a word past a filter ("idoit", "moorn", "stupidpeople").
# Normalisation (threadguard/normalise.py) undoes deliberate leet and inserted spaces, but not a dropped, swapped or
# joined letter, which leaves subword pieces the model has never seen carry the label.
_WORD = re.compile(r"[A-Za-z]{4,}")


def _typo(word: str, following_space: bool, rng: random.Random) -> tuple[str, bool]:
    """`word` with one letter dropped or two neighbours swapped (never the first letter, which readers anchor on), or,
    when a space follows, the space dropped; the bool says whether the space is kept."""
    kind = rng.choice(("drop", "swap", "join") if following_space else ("drop", "swap"))
    if kind == "join":
        return word, False
    i = rng.randrange(1, len(word) - 1)
    if kind == "drop":
        return word[:i] + word[i + 1:], True
    return word[:i] + word[i + 1] + word[i] + word[i + 2:], True


def misspell(text: str, rng: random.Random, *, rate: float = 0.25) -> str:
    """The text with about `rate` of its words of four or more letters misspelled (at least one when it has any)."""
    words = list(_WORD.finditer(text))
    if not words:
        return text
    chosen = {m.start() for m in words if rng.random() < rate} or {rng.choice(words).start()}
    out, last = [], 0
    for match in words:
        if match.start() not in chosen:
            continue
        end = match.end()
        following_space = text[end:end + 1] == " " and end + 1 < len(text) and text[end + 1].isalpha()
        word, keep_space = _typo(match.group(), following_space, rng)
        out += [text[last:match.start()], word]
        last = end if keep_space else end + 1
    return "".join(out) + text[last:]


def typo_copies(rows: Sequence[LabelledComment], weights: Sequence[float], *, share: float, seed: int,
                forbidden: set[str]) -> tuple[list[LabelledComment], list[float]]:
    """Misspelled copies of `share` of the rows, harmless and harmful alike (so a typo predicts no label), labels and
    weight kept; texts in `forbidden` are never produced."""
    rng = random.Random(seed)
    copies, copy_weights = [], []
    for row, weight in zip(rows, weights, strict=True):
        if rng.random() >= share:
            continue
        body = misspell(row.body, rng)
        if body == row.body or body in forbidden:
            continue
        copies.append(row.model_copy(update={"id": f"{row.id}~typo", "body": body}))
        copy_weights.append(weight)
    return copies, copy_weights
