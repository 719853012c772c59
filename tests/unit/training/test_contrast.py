"""Synthetic contrast rows: hateful claims beside their negations and condemnations (training/contrast.py),
hatred said outright beside the same words about things (training/feelings.py), and threats beside violent hyperbole
and refusals (training/threats.py), labelled as the guide says, under
training articles, and sharing no wording with the functional suite they are meant to help on, nor with HateCheck."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from labels.schema import LabelledComment
from tests.fixtures.word_runs import word_runs
from training.contrast import CLAIMS, GROUPS, NEGATED_POSITIVES, synthetic_contrast
from training.feelings import FEELING_FRAMES, GENERALISATIONS, THINGS, UNPROTECTED, synthetic_feelings
from training.functional import SUITE, load_suite
from training.threats import REFUSALS, VIOLENT_FRAMES, VIOLENT_THINGS, synthetic_threats

HOSTS = [
    LabelledComment(id="a", source="t", split="train", thread_id="t1", body="Tariffs again.", article_title="Senate blocks tariff bill on steel imports",
                    article_text="The bill would have raised duties.", hate=0, insult=0, off_topic=0),
    LabelledComment(id="b", source="t", split="train", thread_id="t2", body="No article here.", hate=1, insult=0),
]


def test_four_kinds_in_the_schedules_shares_with_the_guides_labels() -> None:
    rows = synthetic_contrast(HOSTS, 700, seed=4, forbidden=set())
    kinds = Counter(r.id.split("-")[1] for r in rows)
    assert kinds == {"hateful": 200, "negated": 200, "counter": 200, "positive": 100}
    for row in rows:
        hateful = row.id.startswith("contrast-hateful")
        assert (row.hate, row.insult, row.off_topic) == ((1, None, None) if hateful else (0, 0, None))
        assert (row.source, row.split, row.thread_id, row.article_title) == ("synthetic_contrast", "train", "t1", HOSTS[0].article_title)
    assert len({r.body for r in rows}) == 700  # no text twice


def test_every_negated_positive_has_its_positive_form_among_the_harmless_rows() -> None:
    rows = synthetic_contrast(HOSTS, 3000, seed=6, forbidden=set())
    hateful = " ".join(r.body for r in rows if r.hate == 1)
    positive = " ".join(r.body for r in rows if r.id.startswith("contrast-positive"))
    for negated, plain in NEGATED_POSITIVES:
        assert _tail(negated) in hateful and _tail(plain) in positive, plain


def _tail(template: str) -> str:
    return re.split(r"\{[Gg]roup\}", template)[-1].strip(" .")


def test_a_kind_that_runs_out_of_texts_does_not_stall_the_others() -> None:
    """26 groups x 10 statements: far fewer positive texts than the schedule asks of 5000 rows."""
    rows = synthetic_contrast(HOSTS, 5000, seed=8, forbidden=set())
    kinds = Counter(r.id.split("-")[1] for r in rows)
    assert len(rows) == 5000 and len(GROUPS) * len(NEGATED_POSITIVES) * 0.95 <= kinds["positive"] <= len(GROUPS) * len(NEGATED_POSITIVES)


def test_negations_and_condemnations_repeat_the_claims_the_hateful_rows_assert() -> None:
    """The contrast is the point: the same claim words appear on both sides of the label."""
    rows = synthetic_contrast(HOSTS, 600, seed=2, forbidden=set())
    words = {kind: " ".join(r.body for r in rows if r.id.split("-")[1] == kind) for kind in ("hateful", "negated", "counter")}  # positives state no claim
    for claim, _ in CLAIMS:
        assert all(claim.split()[-1] in text for text in words.values()), claim
    negated_positive = [r for r in rows if r.hate == 1 and re.search(r"\b(never|not|don't)\b", r.body)]
    assert negated_positive  # "not" alone does not mean harmless


def test_same_seed_same_rows_forbidden_texts_never_and_no_hosts_no_rows() -> None:
    assert [r.body for r in synthetic_contrast(HOSTS, 30, seed=1, forbidden=set())] == [r.body for r in synthetic_contrast(HOSTS, 30, seed=1, forbidden=set())]
    first = {r.body for r in synthetic_contrast(HOSTS, 30, seed=1, forbidden=set())}
    assert not first & {r.body for r in synthetic_contrast(HOSTS, 30, seed=1, forbidden=first)}
    assert synthetic_contrast(HOSTS[1:], 10, seed=1, forbidden=set()) == []


GENERATORS = pytest.mark.parametrize("generate", [synthetic_contrast, synthetic_feelings, synthetic_threats])


@GENERATORS
def test_no_five_word_run_is_shared_with_the_suites_hate_cases(generate) -> None:  # type: ignore[no-untyped-def]
    """Written apart from the suite: with the group names blanked out, no five consecutive words of a generated row
    occur in a suite case about hate, so the suite measures generalisation, not recall of these templates."""
    blank = re.compile(r"\b(" + "|".join(map(re.escape, sorted(set(GROUPS) | {c for c in _suite_groups()}, key=len, reverse=True))) + r")\b",
                       re.IGNORECASE)
    suite = [c.body for c in load_suite(SUITE) if "hate" in c.expect]
    suite_grams = set().union(*(word_runs(blank.sub("G", text)) for text in suite))
    rows = generate(HOSTS, 1500, seed=9, forbidden=set())
    shared = {gram for r in rows for gram in word_runs(blank.sub("G", r.body)) & suite_grams}
    assert shared == set()


@GENERATORS
def test_no_five_word_run_is_shared_with_hatecheck(generate) -> None:  # type: ignore[no-untyped-def]
    """HateCheck is evaluation only: its templates must not reach training in disguise either. Same check as the
    suite's, against every HateCheck case with its identity word blanked."""
    from labels.corpora import load_corpus
    from tests.conftest import DATASETS

    cases = load_corpus("hatecheck", DATASETS)
    targets = {w for c in cases for w in re.findall(r"[a-z]+", c.body.lower())} & {g.lower().split()[-1] for g in GROUPS}
    blank = re.compile(r"\b(" + "|".join(map(re.escape, sorted(set(GROUPS) | targets | {"women", "men"}, key=len, reverse=True))) + r")\b",
                       re.IGNORECASE)
    hatecheck_grams = set().union(*(word_runs(blank.sub("G", c.body)) for c in cases))
    rows = generate(HOSTS, 3000, seed=9, forbidden=set())
    shared = {gram for r in rows for gram in word_runs(blank.sub("G", r.body)) & hatecheck_grams}
    assert shared == set()


def _suite_groups() -> list[str]:
    import tomllib

    return tomllib.loads(SUITE.read_text())["placeholders"]["group"]


def test_feelings_rows_hate_a_group_or_grieve_a_thing_in_the_same_words() -> None:
    rows = synthetic_feelings(HOSTS, 800, seed=4, forbidden=set())
    kinds = Counter(r.id.split("-")[1] for r in rows)
    assert kinds == {"hatred": 160, "grievance": 160, "aversion": 160, "generalisation": 160, "praise": 160}
    expected = {"hatred": (1, None), "generalisation": (1, None), "aversion": (0, None), "grievance": (0, 0), "praise": (0, 0)}
    for row in rows:
        assert (row.hate, row.insult, row.off_topic) == (*expected[row.id.split("-")[1]], None)
        assert (row.source, row.split, row.article_title) == ("synthetic_feelings", "train", HOSTS[0].article_title)
    bodies = {kind: [r.body for r in rows if r.id.split("-")[1] == kind] for kind in kinds}
    # The target decides: every frame appears about a group, about a thing and about people with no protected trait.
    for frame in FEELING_FRAMES:
        head = frame.split("{target}")[0]
        assert all(any(b.startswith(head) for b in bodies[kind]) for kind in ("hatred", "grievance", "aversion")), frame
    assert all(any(g in b for g in GROUPS) for b in bodies["hatred"]) and all(any(t in b for t in THINGS) for b in bodies["grievance"])
    assert all(any(u in b for u in UNPROTECTED) for b in bodies["aversion"])
    praise = " ".join(bodies["praise"])
    assert all(twin.split("}")[-1].strip(" .") in praise for _, twin in GENERALISATIONS)
    assert len({r.body for r in rows}) == 800


def test_feelings_targets_are_not_the_suites() -> None:
    """The suite's hostility cases name their own unprotected people, so they measure generalisation."""
    import tomllib

    suite = set(tomllib.loads(SUITE.read_text())["placeholders"]["unprotected"])
    assert not suite & set(UNPROTECTED) and not suite & set(THINGS)


def test_threat_rows_call_violence_on_a_group_or_rage_at_a_thing_in_the_same_words() -> None:
    rows = synthetic_threats(HOSTS, 800, seed=4, forbidden=set())
    kinds = Counter(r.id.split("-")[1] for r in rows)
    assert kinds == {"threat": 200, "hyperbole": 200, "aversion": 200, "refusal": 200}
    expected = {"threat": (1, None), "aversion": (0, None), "hyperbole": (0, 0), "refusal": (0, 0)}
    for row in rows:
        assert (row.hate, row.insult, row.off_topic) == (*expected[row.id.split("-")[1]], None)
        assert (row.source, row.split, row.article_title) == ("synthetic_threats", "train", HOSTS[0].article_title)
    bodies = {kind: [r.body for r in rows if r.id.split("-")[1] == kind] for kind in kinds}
    # The target decides: every frame appears about a group, about a thing and about people with no protected trait.
    for frame in VIOLENT_FRAMES:
        tail = frame.split("{target}")[-1]
        assert all(any(b.endswith(tail) for b in bodies[kind]) for kind in ("threat", "hyperbole", "aversion")), frame
    assert all(any(g.lower() in b.lower() for g in GROUPS) for b in bodies["threat"] + bodies["refusal"])
    assert all(any(t.lower() in b.lower() for t in VIOLENT_THINGS) for b in bodies["hyperbole"])
    assert all(any(u.lower() in b.lower() for u in UNPROTECTED) for b in bodies["aversion"])
    assert set(bodies["refusal"]) <= {r.format(group=g) for r in REFUSALS for g in GROUPS}
    assert all(b[0].isupper() for b in bodies["threat"] + bodies["hyperbole"] + bodies["aversion"])
    assert len({r.body for r in rows}) == 800
