"""labels.slurs: offensive-class rows that use a slur for a protected trait become hate, and nothing else does."""

from __future__ import annotations

from labels.schema import LabelledComment
from labels.slurs import names_a_slur, offensive_slurs_as_hate
from tests.conftest import DATASETS, needs_shared


def _row(key: str, body: str, split: str = "train", hate: int = 0) -> LabelledComment:
    return LabelledComment(id=key, source="c", split=split, thread_id=key, body=body, hate=hate)  # type: ignore[arg-type]


def test_a_slur_is_found_as_a_word_of_its_own_in_any_case() -> None:
    assert names_a_slur("shut up you FAGGOT") and names_a_slur("kikes, all of them") and names_a_slur("a retard.")
    assert not names_a_slur("a cigarette fagend") and not names_a_slur("that is retarded") and not names_a_slur("Scunthorpe")
    assert not names_a_slur("you stupid bitch")  # gendered insults are left out of the list


def test_only_offensive_training_rows_that_use_a_slur_change() -> None:
    rows = [
        _row("a", "shut up faggot"),  # offensive, slur, train: becomes hate
        _row("b", "shut up idiot"),  # offensive, no slur
        _row("c", "the word nigger is a slur"),  # normal class (not in the offensive ids): a mention
        _row("d", "shut up faggot", split="test"),  # test keeps the corpus's label
        _row("e", "kike lover", hate=1),  # already hate
    ]
    out, changed = offensive_slurs_as_hate(rows, offensive_ids={"a", "b", "d", "e"})
    assert changed == 1
    assert [r.hate for r in out] == [1, 0, 0, 0, 1]
    assert out[0].body == rows[0].body and out[0].id == "a"


@needs_shared
def test_the_offensive_ids_are_the_loaders_rows_of_the_offensive_class() -> None:
    from labels.corpora import CORPORA, corpus_folder, load_corpus

    for name in ("hatexplain", "davidson"):
        ids = CORPORA[name].offensive_ids(corpus_folder(name, DATASETS))  # type: ignore[misc]
        rows = {r.id: r for r in load_corpus(name, DATASETS)}
        assert ids and ids <= rows.keys(), name
        assert all(rows[i].hate == 0 for i in ids), name  # the loader maps the offensive class to hate 0
        relabelled, changed = offensive_slurs_as_hate(list(rows.values()), ids)
        assert 500 < changed < 1000, (name, changed)
