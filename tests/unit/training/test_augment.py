"""Augmented copies. Counterfactual identity copies: the group is swapped everywhere. Typo copies: a few words
misspelled the ways commenters misspell. Both keep labels and weights and produce nothing forbidden."""

from __future__ import annotations

import random
import re

from labels.schema import LabelledComment
from training.augment import identity_counterfactuals, misspell, typo_copies


def _row(body: str, hate: int) -> LabelledComment:
    return LabelledComment(id=f"r{hash(body) % 1000}", source="t", split="train", thread_id="t", body=body, hate=hate, insult=0)


def test_each_mention_of_the_group_is_swapped_and_labels_kept() -> None:
    rows = [_row("Muslims are vermin. Deport all Muslims.", 1), _row("My gay neighbours threw a great party.", 0), _row("Tariffs are up again.", 0)]
    copies, weights = identity_counterfactuals(rows, [2.0, 1.0, 1.0], share=1.0, seed=1, forbidden=set())
    assert len(copies) == 2 and weights == [2.0, 1.0]
    hateful, neutral = copies
    assert "Muslims" not in hateful.body and hateful.hate == 1 and hateful.id.endswith("~cf")
    swapped = hateful.body.split()[0]
    assert hateful.body == f"{swapped} are vermin. Deport all {swapped}."
    assert "gay" not in neutral.body.split() and neutral.hate == 0 and neutral.body.startswith("My ") and neutral.body.endswith("neighbours threw a great party.")


def test_forbidden_texts_and_share_are_respected() -> None:
    rows = [_row("Jews run the banks.", 1)] * 50
    none, _ = identity_counterfactuals(rows, [1.0] * 50, share=0.0, seed=1, forbidden=set())
    assert none == []
    some, _ = identity_counterfactuals(rows, [1.0] * 50, share=0.5, seed=1, forbidden=set())
    assert 10 < len(some) < 40
    every = {c.body for c in identity_counterfactuals(rows, [1.0] * 50, share=1.0, seed=1, forbidden=set())[0]}
    blocked, _ = identity_counterfactuals(rows, [1.0] * 50, share=1.0, seed=1, forbidden=every)
    assert blocked == []


def _edit_is_a_typo(before: str, after: str) -> bool:
    """One letter dropped, two neighbouring letters swapped (first letter kept), or a space between words dropped."""
    if len(after) == len(before) - 1:
        return any(before[:i] + before[i + 1:] == after and (before[i] == " " or i > 0) for i in range(len(before)))
    return len(after) == len(before) and sorted(after) == sorted(before) and after[0] == before[0] and \
        [i for i in range(len(before)) if before[i] != after[i]] in ([j, j + 1] for j in range(1, len(before) - 1))


def test_misspelled_words_are_typos_of_the_originals_and_the_rest_is_untouched() -> None:
    rng = random.Random(3)
    text = "You are a complete idiot, Dave, and your argument is worthless."
    joined = 0
    for _ in range(200):
        out = misspell(text, rng)
        assert out != text
        before, after = re.split(r"(\W+)", text), re.split(r"(\W+)", out)
        if len(after) == len(before):  # no words joined: every token is itself or a one-letter typo of itself
            assert all(b == a or (len(b) >= 4 and _edit_is_a_typo(b, a)) for b, a in zip(before, after, strict=True)), out
        else:
            joined += 1
            assert out.replace(" ", "") != text.replace(" ", "") or len(out) < len(text)
    assert joined > 10  # joining two words happens too ("stupidpeople")
    assert misspell("ok no", rng) == "ok no"  # no word of four letters: nothing to misspell


def test_typo_copies_keep_labels_and_weights_cover_both_classes_and_skip_forbidden() -> None:
    rows = [_row(f"Comment number {i} says something quite ordinary here.", i % 2).model_copy(update={"id": f"c{i}"}) for i in range(400)]
    copies, weights = typo_copies(rows, [float(i) for i in range(400)], share=0.25, seed=2, forbidden=set())
    assert 60 < len(copies) < 140
    originals = {r.id: (r, float(i)) for i, r in enumerate(rows)}
    for copy, weight in zip(copies, weights, strict=True):
        original, original_weight = originals[copy.id.removesuffix("~typo")]
        assert copy.body != original.body and (copy.hate, copy.insult, weight) == (original.hate, original.insult, original_weight)
    assert {c.hate for c in copies} == {0, 1}  # harmless rows get typos too, so a typo alone predicts nothing
    blocked, _ = typo_copies(rows, [1.0] * 400, share=0.25, seed=2, forbidden={c.body for c in copies})
    assert blocked == []
