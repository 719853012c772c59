from __future__ import annotations

import json
from pathlib import Path

import pytest

from labels.pairs import with_wrong_context_pairs
from labels.schema import LabelledComment
from labels.sets import read_jsonl, sha256_of_rows, split_for_group, split_groups, write_jsonl
from tests.fixtures.tiny_sets import tiny_rows
from threadguard.errors import ParseError


def test_group_split_is_deterministic_and_seeded() -> None:
    groups = [f"thread{i}" for i in range(2000)]
    first = [split_for_group(g, seed=1) for g in groups]
    assert first == [split_for_group(g, seed=1) for g in groups]
    assert first != [split_for_group(g, seed=2) for g in groups]
    share = first.count("train") / len(first)
    assert 0.75 < share < 0.85


def test_small_group_split_puts_each_group_in_one_split_and_fills_all() -> None:
    splits = split_groups([f"a{i}" for i in range(10)] * 3, seed=5)
    assert len(splits) == 10
    assert set(splits.values()) == {"train", "validation", "test"}


def test_canonical_hash_ignores_row_order(tmp_path: Path) -> None:
    rows = tiny_rows()
    assert sha256_of_rows(rows) == sha256_of_rows(list(reversed(rows)))
    path = tmp_path / "set.jsonl"
    write_jsonl(rows, path)
    assert sha256_of_rows(read_jsonl(path)) == sha256_of_rows(rows)


def _hand_row(**changes: object) -> str:
    row = {"id": "a", "source": "seed", "split": "test", "thread_id": "t", "body": "you dope", "hate": 0, "insult": 1, "off_topic": 0,
           "rationale": "name-calling", "labeller": "me", "guide_version": "1.0"}
    row.update(changes)
    return json.dumps({k: v for k, v in row.items() if v is not ...})


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [({"rationale": ...}, "rationale"), ({"guide_version": "0.3"}, "unknown guide version"), ({"insult": None}, "insult"), ({"hate": 2}, "hate")],
)
def test_hand_labelled_rows_refuse_missing_rationale_or_unknown_guide(tmp_path: Path, changes: dict, fragment: str) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text(_hand_row() + "\n" + _hand_row(**changes) + "\n")
    with pytest.raises(ParseError, match=rf"labels.jsonl:2: .*{fragment}"):
        read_jsonl(path, hand_labelled=True)


def test_committed_seed_set_is_complete() -> None:
    rows = read_jsonl(Path(__file__).resolve().parents[3] / "labels" / "data" / "seed.jsonl", hand_labelled=True)
    assert len(rows) == 25
    assert {r.hate for r in rows} == {0, 1} and {r.insult for r in rows} == {0, 1} and {r.off_topic for r in rows} == {0, 1}


def test_wrong_context_pairs_swap_article_and_mask_other_labels() -> None:
    rows = [r for r in tiny_rows() if r.split == "train"]
    paired = with_wrong_context_pairs(rows, seed=1)
    originals = {r.id: r for r in rows}
    copies = [r for r in paired if r.id not in originals]
    assert len(copies) == len(rows)
    for copy in copies:
        assert copy.off_topic == 1 and copy.hate is None and copy.insult is None
        source = next(o for o in rows if o.body == copy.body and o.thread_id == copy.thread_id)
        assert copy.article_title != source.article_title
        assert copy.split == source.split
    assert all(paired_row.off_topic == 0 for paired_row in paired if paired_row.id in originals)


def test_rows_without_context_get_no_pairs_and_keep_missing_off_topic() -> None:
    row = LabelledComment(id="x", source="s", split="train", thread_id="t", body="hello")
    assert with_wrong_context_pairs([row], seed=0) == [row]
    assert row.off_topic is None


def test_parent_swaps_put_each_reply_under_another_threads_comment_and_leave_the_article_pairs_alone() -> None:
    rows = [r for r in tiny_rows() if r.split == "train"]
    replies = {r.id for r in rows[::3]}
    rows = [r.model_copy(update={"parent_body": f"the comment {r.id} answers"}) if r.id in replies else r for r in rows]
    plain = with_wrong_context_pairs(rows, seed=1)
    swapped = with_wrong_context_pairs(rows, seed=1, parent_swaps=True)
    assert [r for r in swapped if r in plain] == plain  # the article pairs are the same with or without
    extra = [r for r in swapped if r not in plain]
    assert len(extra) == len(replies)
    bodies_by_thread: dict[str, set[str]] = {}
    for row in rows:
        bodies_by_thread.setdefault(row.thread_id, set()).add(row.body)
    for copy in extra:
        source = next(r for r in rows if r.body == copy.body and r.thread_id == copy.thread_id)
        assert source.id in replies
        assert (copy.article_title, copy.article_text, copy.split) == (source.article_title, source.article_text, source.split)
        assert (copy.off_topic, copy.hate, copy.insult) == (1, None, None)
        assert copy.parent_body not in bodies_by_thread[source.thread_id]  # a comment of another thread
        assert any(copy.parent_body in bodies for bodies in bodies_by_thread.values())
    assert len({r.id for r in swapped}) == len(swapped)
