"""Synthetic spam: off-topic pitches under real training articles, some echoing the title, never a suite case."""

from __future__ import annotations

from labels.schema import LabelledComment
from training.functional import SUITE, load_suite
from training.spam import synthetic_spam, title_words

HOSTS = [
    LabelledComment(id="a", source="t", split="train", thread_id="t1", body="Tariffs again.", article_title="Senate blocks tariff bill on steel imports",
                    article_text="The bill would have raised duties.", parent_body="What about farmers?", hate=0, insult=0, off_topic=0),
    LabelledComment(id="b", source="t", split="train", thread_id="t2", body="No article here.", hate=1, insult=0),
]


def test_spam_sits_under_training_articles_with_its_labels() -> None:
    spam = synthetic_spam(HOSTS, 40, seed=3, forbidden=set())
    assert len(spam) == 40 and len({s.id for s in spam}) == 40
    assert all(s.article_title == HOSTS[0].article_title and s.parent_body == HOSTS[0].parent_body and s.thread_id == "t1" for s in spam)
    assert all((s.off_topic, s.hate, s.insult, s.split, s.source) == (1, 0, 0, "train", "synthetic_spam") for s in spam)
    assert len({s.body for s in spam}) > 30  # varied, not one pitch repeated
    echoing = [s for s in spam if s.body.startswith(("Worried about", "Forget"))]
    title = {"senate", "blocks", "tariff", "bill", "steel", "imports"}
    assert 0 < len(echoing) < 40
    assert all(len(title & set(s.body.split("?")[0].split(".")[0].lower().split())) == 2 for s in echoing)  # two title words open it


def test_same_seed_same_spam_and_no_hosts_no_spam() -> None:
    assert [s.body for s in synthetic_spam(HOSTS, 10, seed=1, forbidden=set())] == [s.body for s in synthetic_spam(HOSTS, 10, seed=1, forbidden=set())]
    assert synthetic_spam(HOSTS[1:], 10, seed=1, forbidden=set()) == []


def test_forbidden_texts_are_never_produced_and_none_is_a_suite_case() -> None:
    first = {s.body for s in synthetic_spam(HOSTS, 20, seed=5, forbidden=set())}
    again = {s.body for s in synthetic_spam(HOSTS, 20, seed=5, forbidden=first)}
    assert not first & again
    suite = {case.body for case in load_suite(SUITE)}
    assert not {s.body for s in synthetic_spam(HOSTS, 500, seed=7, forbidden=set())} & suite


def test_title_words_skip_stopwords_and_short_words() -> None:
    import random

    words = title_words("Senate blocks tariff bill on steel imports", random.Random(0), k=10)
    assert words == ["senate", "blocks", "tariff", "bill", "steel", "imports"]
