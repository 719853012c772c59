"""Synthetic name-calling beside criticism of the same targets (training/name_calling.py): labelled as the guide says,
the epithet alone tells the two apart, and no wording is shared with the functional suite or HateCheck."""

from __future__ import annotations

import re
from collections import Counter

from labels.schema import LabelledComment
from tests.fixtures.word_runs import word_runs
from training.functional import SUITE, load_suite
from training.name_calling import ADJECTIVES, EPITHETS, PUT_DOWNS, synthetic_name_calling

HOSTS = [
    LabelledComment(id="a", source="t", split="train", thread_id="t1", body="Tariffs again.", article_title="Council passes transit plan",
                    article_text="The plan adds two bus lines.", hate=0, insult=0, off_topic=0),
]
# An epithet as a word, in the singular or plural the generator writes
_EPITHET = re.compile(r"\b(" + "|".join(re.escape(e[:-1]) + r"(y|ies)" if e.endswith("y") else re.escape(e) + "s?" for e in EPITHETS) + r")\b",
                      re.IGNORECASE)

_ADJECTIVE = re.compile(r"\b(" + "|".join(map(re.escape, ADJECTIVES)) + r")\b", re.IGNORECASE)


def _kind(row: LabelledComment) -> str:
    return row.id.split("-")[1]


def test_three_kinds_in_the_schedules_shares_with_the_guides_labels() -> None:
    rows = synthetic_name_calling(HOSTS, 500, seed=4, forbidden=set())
    assert Counter(map(_kind, rows)) == {"epithet": 200, "criticism": 200, "dismissal": 100}
    for row in rows:
        assert (row.hate, row.insult, row.off_topic) == (0, 1 if _kind(row) == "epithet" else 0, None)
        assert (row.source, row.split, row.article_title) == ("synthetic_name_calling", "train", HOSTS[0].article_title)
    assert len({r.body for r in rows}) == 500


def test_hate_unset_masks_hate_and_changes_nothing_else() -> None:
    """The switch that lets the rows teach insult alone: same texts, same insult labels, hate unset (masked in the loss)."""
    zero = synthetic_name_calling(HOSTS, 60, seed=3, forbidden=set())
    unset = synthetic_name_calling(HOSTS, 60, seed=3, forbidden=set(), hate_unset=True)
    assert [(r.body, r.insult, r.off_topic) for r in unset] == [(r.body, r.insult, r.off_topic) for r in zero]
    assert {r.hate for r in zero} == {0} and {r.hate for r in unset} == {None}


def test_the_epithet_alone_separates_the_kinds() -> None:
    """Every insulting row carries an epithet, a put-down or a demeaning adjective, no other row does, and both sides address "you" about as
    often: the second person must not become the insult's sign."""
    rows = synthetic_name_calling(HOSTS, 1000, seed=5, forbidden=set())
    for row in rows:
        named = bool(_EPITHET.search(row.body) or _ADJECTIVE.search(row.body)) or any(p in row.body for p in PUT_DOWNS)
        assert named == (_kind(row) == "epithet"), row.body
    you = {kind: sum(bool(re.search(r"\byou", r.body, re.I)) for r in rows if _kind(r) == kind) / 400 for kind in ("epithet", "criticism")}
    assert 0.2 <= you["epithet"] <= 0.6 and abs(you["epithet"] - you["criticism"]) < 0.1, you


def test_same_seed_same_rows_and_forbidden_texts_never() -> None:
    first = [r.body for r in synthetic_name_calling(HOSTS, 40, seed=1, forbidden=set())]
    assert first == [r.body for r in synthetic_name_calling(HOSTS, 40, seed=1, forbidden=set())]
    assert not set(first) & {r.body for r in synthetic_name_calling(HOSTS, 40, seed=1, forbidden=set(first))}


def test_no_five_word_run_is_shared_with_the_suite_or_hatecheck() -> None:
    """Written apart from the suite's insult and criticism cases and from HateCheck, so both still measure generalisation."""
    from labels.corpora import load_corpus
    from tests.conftest import DATASETS

    texts = [c.body for c in load_suite(SUITE)] + [c.body for c in load_corpus("hatecheck", DATASETS)]
    evaluation = set().union(*(word_runs(t) for t in texts))
    rows = synthetic_name_calling(HOSTS, 3000, seed=9, forbidden=set())
    assert {gram for r in rows for gram in word_runs(r.body) & evaluation} == set()
