"""labels.addressee: a participants-only corpus's insult 0 is unset where the comment addresses no one, and nowhere else."""

from __future__ import annotations

from labels.addressee import addresses_someone, unset_unaddressed_insult_negatives
from labels.schema import LabelledComment


def _row(key: str, body: str, split: str = "train", insult: int | None = 0) -> LabelledComment:
    return LabelledComment(id=key, source="c", split=split, thread_id=key, body=body, insult=insult, hate=0)  # type: ignore[arg-type]


def test_second_person_is_found_as_commenters_spell_it() -> None:
    assert addresses_someone("You sir are part of the problem") and addresses_someone("ur wrong") and addresses_someone("see ya, y'all")
    assert addresses_someone("Thank you.") and addresses_someone("you're kidding")
    assert not addresses_someone("Her voice could kill small animals") and not addresses_someone("the stupid mayor")
    assert addresses_someone("Your call.")  # a possessive addresses someone too
    assert not addresses_someone("youth unemployment and bayou towns")  # inside other words


def test_only_training_negatives_that_address_no_one_lose_their_insult_label() -> None:
    rows = [
        _row("a", "Her voice could kill small animals"),  # train, 0, no one addressed: unset
        _row("b", "you make a fair point"),  # addresses someone: keeps 0
        _row("c", "what a moron that mayor is", insult=1),  # a positive stays
        _row("d", "Her voice could kill small animals", split="test"),  # test keeps the corpus's label
        _row("e", "no label here", insult=None),  # already unset
    ]
    out, changed = unset_unaddressed_insult_negatives(rows)
    assert changed == 1
    assert [r.insult for r in out] == [None, 0, 1, 0, None]
    assert [r.hate for r in out] == [0] * 5 and out[0].body == rows[0].body
