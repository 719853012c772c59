from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labels.agreement import LabelDecision, adjudicate, cohen_kappa, compare
from labels.inhouse import (
    PoolItem,
    build_set,
    draw_threads,
    extend_pool,
    fill_parents,
    read_decisions,
    read_sheet_answers,
    render_sheet,
    second_pass_ids,
    thread_splits,
    write_models,
)
from labels.sets import read_jsonl
from tests.conftest import DATASETS, needs_shared
from threadguard.errors import DataError, ParseError
from threadguard.settings import PROJECT_ROOT


def _decision(ident: str, hate: int = 0, insult: int = 0, off_topic: int = 0, **extra: object) -> LabelDecision:
    return LabelDecision(id=ident, hate=hate, insult=insult, off_topic=off_topic, rationale=extra.pop("rationale", "because"),
                         labeller=extra.pop("labeller", "a"), guide_version=extra.pop("guide_version", "1.1"))


def test_kappa_matches_a_worked_example() -> None:
    # 10 items: both say 1 on 3, both 0 on 4, A=1/B=0 on 2, A=0/B=1 on 1.
    a = [1, 1, 1, 0, 0, 0, 0, 1, 1, 0]
    b = [1, 1, 1, 0, 0, 0, 0, 0, 0, 1]
    # p_o = 0.7; p_e = 0.5*0.4 + 0.5*0.6 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa([0, 0], [0, 0]) is None  # one class only: undefined, not 1


def test_compare_reports_raw_agreement_kappa_and_disagreements() -> None:
    first = [_decision("a", insult=1), _decision("b"), _decision("c", hate=1), _decision("d")]
    second = [_decision("a", insult=1), _decision("b", insult=1), _decision("c", hate=1), _decision("d"), _decision("e")]
    agreements, disagreements = compare(first, second)
    by_label = {x.label.value: x for x in agreements}
    assert by_label["insult"].n == 4 and by_label["insult"].raw == 0.75
    assert by_label["hate"].kappa == 1.0 and by_label["off_topic"].kappa is None
    assert [(d.id, d.label.value, d.first, d.second) for d in disagreements] == [("b", "insult", 0, 1)]


def test_adjudication_needs_a_ruling_for_every_disagreement() -> None:
    first, second = [_decision("a"), _decision("b")], [_decision("a"), _decision("b", insult=1)]
    with pytest.raises(DataError, match="1 disagreements have no adjudication: b"):
        adjudicate(first, second, [])
    ruled = adjudicate(first, second, [_decision("b", insult=1, rationale="ruling")])
    assert {r.id: r.insult for r in ruled} == {"a": 0, "b": 1}


def test_unknown_guide_version_or_missing_rationale_is_refused() -> None:
    with pytest.raises(ValueError):
        _decision("a", rationale="")
    with pytest.raises(DataError, match="unknown guide version"):
        compare([_decision("a", guide_version="9.9")], [_decision("a")])


def _pool(n_threads: int = 6, per_thread: int = 10) -> list[PoolItem]:
    return [
        PoolItem(id=f"t{t}c{c}", source="fox_news" if t % 2 else "globe_and_mail", thread_id=f"thread{t}", body=f"comment {c}",
                 article_title=f"article {t}", flagged=(c < t))
        for t in range(n_threads) for c in range(per_thread)
    ]


def test_draw_keeps_whole_threads_and_is_seeded() -> None:
    pool = _pool(12, 10)
    drawn = draw_threads(pool, seed=1, target=50)
    threads = {i.thread_id for i in drawn}
    assert len(drawn) == 10 * len(threads) and len(drawn) >= 50
    assert [i.id for i in drawn] == [i.id for i in draw_threads(pool, seed=1, target=50)]


def test_second_pass_covers_at_least_a_fifth_of_each_thread() -> None:
    pool = _pool(5, 9)
    ids = second_pass_ids(pool, seed=2)
    assert len(ids) >= 0.2 * len(pool) and len(set(ids)) == len(ids)
    per_thread = {t: sum(i.startswith(f"t{t[-1]}c") for i in ids) for t in {p.thread_id for p in pool}}
    assert all(n >= 2 for n in per_thread.values())


def test_thread_split_never_puts_a_thread_in_two_splits_and_has_positives() -> None:
    pool = _pool(10, 10)
    decisions = [_decision(i.id, hate=int(i.id.endswith(("c0", "c1"))), insult=int(i.id.endswith("c2")), off_topic=int(i.id.endswith("c3"))) for i in pool]
    splits = thread_splits(pool, decisions, min_positives=1)
    rows = build_set(pool, decisions, min_positives=1)
    seen: dict[str, set[str]] = {}
    for row in rows:
        seen.setdefault(row.thread_id, set()).add(row.split)
    assert all(len(s) == 1 for s in seen.values())
    assert set(splits.values()) == {"train", "validation", "test"}
    with pytest.raises(DataError, match="no label yet"):
        build_set(pool, decisions[:-1], min_positives=1)


def test_sheet_answers_are_parsed_and_checked(tmp_path: Path) -> None:
    pool = _pool(1, 3)
    sheet = render_sheet(pool)
    assert "[0]" in sheet and "flagged" not in sheet and "=== ARTICLE: article 0" in sheet
    answers = tmp_path / "a.txt"
    answers.write_text("# comment\n0 0 1 0 | 'you dope'\n1 0 0 0 | fine\n")
    decisions = read_sheet_answers(answers, pool, labeller="me")
    assert [(d.id, d.insult, d.guide_version) for d in decisions] == [("t0c0", 1, "1.2"), ("t0c1", 0, "1.2")]  # the current guide
    answers.write_text("0 0 2 0 | bad label\n")
    with pytest.raises(ParseError, match=":1: expected"):
        read_sheet_answers(answers, pool, labeller="me")


def _tg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from threadguard.cli import run; run()", *args], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60)


@pytest.mark.slow  # three CLI processes, about 6 s; .ci/run runs it
def test_agreement_and_stats_commands_on_a_small_fixture(tmp_path: Path) -> None:
    first, second = tmp_path / "p1.jsonl", tmp_path / "p2.jsonl"
    write_models([_decision("a", insult=1), _decision("b"), _decision("c", hate=1)], first)
    write_models([_decision("a", insult=1), _decision("b", insult=1), _decision("c", hate=1)], second)
    result = _tg("labels", "agreement", str(first), str(second), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["labels"]["insult"]["raw"] == pytest.approx(0.6667, abs=1e-4)
    assert report["disagreements"] == [{"id": "b", "label": "insult", "first": 0, "second": 1}]
    unresolved = _tg("labels", "agreement", str(first), str(second), "--output", str(tmp_path / "adj.jsonl"))
    assert unresolved.returncode == 1 and "no adjudication" in unresolved.stderr
    stats = _tg("labels", "stats", str(PROJECT_ROOT / "labels" / "data" / "seed.jsonl"))
    assert stats.returncode == 0 and "seed" in stats.stdout and "4/21/0" in stats.stdout


def test_committed_inhouse_set_is_complete_and_split_by_thread() -> None:
    rows = read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl", hand_labelled=True)
    assert len(rows) >= 1500
    splits: dict[str, set[str]] = {}
    for row in rows:
        splits.setdefault(row.thread_id, set()).add(row.split)
    assert all(len(s) == 1 for s in splits.values())
    for split in ("validation", "test"):
        part = [r for r in rows if r.split == split]
        assert all(sum(getattr(r, label) for r in part) >= 8 for label in ("hate", "insult", "off_topic"))
    folder = PROJECT_ROOT / "labels" / "data" / "inhouse"
    adjudicated = read_decisions(folder / "adjudicated.jsonl")
    assert {r.id for r in rows} == {d.id for d in adjudicated}
    second = read_decisions(folder / "pass2.jsonl")
    assert len(second) >= 0.2 * len(rows)


def test_extended_set_adds_fox_threads_to_train_and_globe_threads_to_validation_and_test() -> None:
    data = PROJECT_ROOT / "labels" / "data"
    base = {r.id: r for r in read_jsonl(data / "inhouse.jsonl", hand_labelled=True)}
    extended = {r.id: r for r in read_jsonl(data / "inhouse-extended.jsonl", hand_labelled=True)}
    fox = read_decisions(data / "inhouse" / "pass1-extension.jsonl")
    globe = read_decisions(data / "inhouse" / "pass1-globe-extension.jsonl")
    assert all(extended[i] == row for i, row in base.items())  # every earlier row, in its split, unchanged
    added = {i: extended[i] for i in extended.keys() - base.keys()}
    assert set(added) == {d.id for d in fox} | {d.id for d in globe} and len(fox) >= 500 and len(globe) >= 500
    assert {added[d.id].split for d in fox} == {"train"}
    assert {added[d.id].split for d in globe} == {"validation", "test"}  # they grow the yardstick, not training
    assert {added[d.id].guide_version for d in globe} == {"1.2"}
    assert not {r.thread_id for r in added.values()} & {r.thread_id for r in base.values()}  # whole new threads
    for split in ("validation", "test"):
        new_rows = [added[d.id] for d in globe if added[d.id].split == split]
        assert sum(r.hate for r in new_rows) >= 5 and sum(r.insult for r in new_rows) >= 10


def test_fill_parents_sets_missing_parents_by_id_and_keeps_recorded_ones() -> None:
    pool = _pool(2, 3)
    pool[1] = pool[1].model_copy(update={"parent_body": "the parent the sheet showed"})
    filled, count = fill_parents(pool, {"t0c1": "from the corpus", "t0c2": "from the corpus", "nope": "no such item"})
    assert count == 1
    assert [i.parent_body for i in filled] == [None, "the parent the sheet showed", "from the corpus", None, None, None]
    assert [i.model_copy(update={"parent_body": None}) for i in filled] == [i.model_copy(update={"parent_body": None}) for i in pool]


@needs_shared
def test_committed_inhouse_fox_replies_carry_the_parent_the_corpus_records() -> None:
    """Every in-house Fox News reply has the comment it answers, so off_topic can be judged against it."""
    from labels.corpora import load_corpus

    parents = {r.id: r.parent_body for r in load_corpus("fox_news", DATASETS) if r.parent_body}
    for name in ("inhouse.jsonl", "inhouse-extended.jsonl"):
        rows = [r for r in read_jsonl(PROJECT_ROOT / "labels" / "data" / name, hand_labelled=True) if r.source == "inhouse:fox_news"]
        assert all(r.parent_body == parents.get(r.id) for r in rows), name
        assert sum(r.parent_body is not None for r in rows) >= 500


@needs_shared
def test_parents_command_without_parents_in_the_corpus_is_one_line_and_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "set.jsonl"
    target.write_text("")
    result = _tg("labels", "parents", str(target), "--source", "globe_and_mail", "--datasets-dir", str(DATASETS))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == ["error: corpus 'globe_and_mail' records no parent comments"]
    assert target.read_text() == ""


def test_extension_appends_whole_new_threads_of_one_source_after_the_numbered_items() -> None:
    pool = _pool(6, 5)
    drawn = [i for i in pool if i.thread_id in {"thread0", "thread1"}]
    extended = extend_pool(drawn, pool, source="fox_news")
    assert extended[: len(drawn)] == drawn  # answered sheet numbers stay valid
    assert {i.thread_id for i in extended[len(drawn):]} == {"thread3", "thread5"}  # thread1 is fox_news but drawn already
    assert len(extended) == len(drawn) + 10
    with pytest.raises(DataError, match="every fox_news thread"):
        extend_pool(extended, pool, source="fox_news")
    with pytest.raises(DataError, match="no candidate comment comes from 'fox'; the candidates' sources are fox_news, globe_and_mail"):
        extend_pool(drawn, pool, source="fox")


def test_a_build_that_keeps_splits_leaves_old_threads_where_they_were_and_puts_new_ones_in_train() -> None:
    pool = _pool(10, 10)
    decisions = [_decision(i.id, hate=int(i.id.endswith(("c0", "c1"))), insult=int(i.id.endswith("c2")), off_topic=int(i.id.endswith("c3"))) for i in pool]
    first = build_set(pool[:80], decisions, min_positives=1)
    kept = {row.thread_id: row.split for row in first}
    second = build_set(pool, decisions, min_positives=1, keep_splits=kept)
    assert [(r.id, r.split) for r in second[:80]] == [(r.id, r.split) for r in first]
    assert {r.split for r in second[80:]} == {"train"}
    assert set(kept.values()) == {"train", "validation", "test"}


def test_a_build_that_keeps_splits_can_send_named_new_threads_to_validation_and_test() -> None:
    pool = _pool(12, 10)
    decisions = [_decision(i.id, hate=int(i.id.endswith(("c0", "c1"))), insult=int(i.id.endswith("c2")), off_topic=int(i.id.endswith("c3"))) for i in pool]
    first = build_set(pool[:80], decisions, min_positives=1)
    kept = {row.thread_id: row.split for row in first}
    second = build_set(pool, decisions, min_positives=1, keep_splits=kept,
                       new_splits={"thread8": "validation", "thread9": "test"})
    assert [(r.id, r.split) for r in second[:80]] == [(r.id, r.split) for r in first]
    assert {r.thread_id: r.split for r in second[80:]} == {"thread8": "validation", "thread9": "test", "thread10": "train", "thread11": "train"}
    with pytest.raises(DataError, match="no drawn thread 'thread99'"):
        build_set(pool, decisions, keep_splits=kept, new_splits={"thread99": "test"})
    with pytest.raises(DataError, match="thread 'thread0' already has split"):
        build_set(pool, decisions, keep_splits=kept, new_splits={"thread0": "test"})
    with pytest.raises(DataError, match="only when an earlier build keeps"):
        build_set(pool, decisions, new_splits={"thread8": "test"})


def test_build_command_rejects_a_malformed_new_split_in_one_line(tmp_path: Path) -> None:
    result = _tg("labels", "build", "pool.jsonl", "pass.jsonl", "--keep-splits", "old.jsonl", "--new-split", "thread1=valid", "-o", str(tmp_path / "x.jsonl"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --new-split takes THREAD_ID=train|validation|test, not 'thread1=valid'"


def test_pool_and_pass_files_that_are_not_utf8_or_malformed_fail_in_one_line_naming_file_and_line(tmp_path: Path) -> None:
    from labels.inhouse import read_pool

    bad = tmp_path / "pool.jsonl"
    bad.write_bytes(b'\xff\xfe{"id": "a"}\n')
    with pytest.raises(ParseError, match=r"pool.jsonl:0: not valid UTF-8"):
        read_pool(bad)
    bad.write_text('{"id": "a", "source": "s", "thread_id": "t", "body": "x"}\n{"id": 1}\n')
    with pytest.raises(ParseError, match=r"pool.jsonl:2: id: Input should be a valid string"):
        read_pool(bad)
    with pytest.raises(ParseError, match=r"missing.jsonl:0: cannot read labelling pass"):
        read_decisions(tmp_path / "missing.jsonl")


def test_rewriting_the_pool_keeps_the_old_file_whole_when_the_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pool.jsonl"
    write_models(_pool(1, 2), path)
    before = path.read_bytes()

    def dies_halfway(self: Path, data: str, encoding: str | None = None) -> int:  # the process dies with half the text on disk
        with open(self, "w", encoding=encoding) as fh:
            fh.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", dies_halfway)
    with pytest.raises(OSError, match="disk full"):
        write_models(_pool(2, 3), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
