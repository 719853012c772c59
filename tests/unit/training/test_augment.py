"""Counterfactual identity copies: the group is swapped everywhere, labels and weights are kept, nothing forbidden."""

from __future__ import annotations

from labels.schema import LabelledComment
from training.augment import identity_counterfactuals


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
