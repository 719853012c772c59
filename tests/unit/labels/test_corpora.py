from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from labels.corpora import CORPORA, _unescape_kaggle, load_corpus
from tests.conftest import DATASETS, needs_shared
from threadguard.errors import DataError


def _gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text)


def test_toxicspans_majority_of_raters_decides(tmp_path: Path) -> None:
    folder = tmp_path / "ts"
    _gz(folder / "comments.csv.gz", "comment_id,comment_text\n1,you are a clown\n2,this is bad policy\n")
    _gz(folder / "annotations.csv.gz", "annotation,comment_id,worker,country,all toxic,not toxic\n"
        "10,1,a,USA,False,False\n11,1,b,USA,False,False\n12,1,c,USA,False,False\n20,2,a,USA,False,True\n21,2,b,USA,False,False\n")
    _gz(folder / "spans.csv.gz", "annotation,type,start,end\n10,Insult,10,15\n11,Insu,10,15\n12,Identity based Attack,0,3\n21,Insult,0,4\n")
    rows = {r.body: r for r in load_corpus("toxicspans", tmp_path, folder)}
    assert (rows["you are a clown"].insult, rows["you are a clown"].hate) == (1, 0)  # 2 of 3 insult, 1 of 3 identity
    assert rows["this is bad policy"].insult == 1  # 1 of 2 raters is 50 %
    assert rows["you are a clown"].off_topic is None  # not annotated: missing, never 0


def test_kaggle_text_is_unescaped() -> None:
    assert _unescape_kaggle('"you\\xa0fool\\\\nnext"') == "you\xa0fool\nnext"
    assert _unescape_kaggle('"it\\xe2\\x80\\x99s"') == "it\u2019s"


def test_olid_maps_targeted_offence_to_insult(tmp_path: Path) -> None:
    folder = tmp_path / "olid"
    _gz(folder / "olid-training-v1.0.tsv.gz", "id\ttweet\tsubtask_a\tsubtask_b\tsubtask_c\n1\tyou idiot\tOFF\tTIN\tIND\n2\tdamn it\tOFF\tUNT\tNULL\n3\tnice\tNOT\tNULL\tNULL\n")
    _gz(folder / "testset-levela.tsv.gz", "id\ttweet\n9\tyou fool\n8\tlovely\n")
    (folder / "labels-levela.csv").write_text("9,OFF\n8,NOT\n")
    (folder / "labels-levelb.csv").write_text("9,TIN\n")
    rows = {r.body: r for r in load_corpus("olid", tmp_path, folder)}
    assert [rows[t].insult for t in ("you idiot", "damn it", "nice", "you fool", "lovely")] == [1, 0, 0, 1, 0]
    assert rows["you fool"].split == "test" and rows["you idiot"].hate is None


def test_stormfront_rebuilds_posts_and_counts_relation_as_hate(tmp_path: Path) -> None:
    folder = tmp_path / "sf"
    _gz(folder / "stormfront_sentences.csv.gz",
        "file_id,post_id,sentence_no,user_id,subforum_id,num_contexts,label,sampled_split,text\n"
        "1_2,1,2,u,s,0,relation,,second part\n1_1,1,1,u,s,0,noHate,,first part\n2_1,2,1,u,s,0,noHate,,fine\n3_1,3,1,u,s,0,idk/skip,,unsure\n")
    rows = {r.body: r for r in load_corpus("stormfront", tmp_path, folder)}
    assert rows == {"first part second part": rows["first part second part"], "fine": rows["fine"]}
    assert rows["first part second part"].hate == 1 and rows["fine"].hate == 0


def test_semeval_relevance_maps_bad_and_dialogue_to_off_topic(tmp_path: Path) -> None:
    xml = ('<root><Question QID="Q1"><QSubject>visa help</QSubject><QBody>how long does a visa take</QBody>'
           '<Comment CID="c1" CGOLD="Good"><CBody>two weeks</CBody></Comment><Comment CID="c2" CGOLD="Dialogue"><CBody>thanks bro</CBody></Comment>'
           '<Comment CID="c3" CGOLD="Potential"><CBody>maybe</CBody></Comment><Comment CID="c4" CGOLD="Bad"><CBody>buy gold</CBody></Comment></Question></root>')
    folder = tmp_path / "se"
    _gz(folder / "CQA-QL-devel.xml.gz", xml)
    _gz(folder / "CQA-QL-test.xml.gz", xml.replace("Q1", "Q2"))
    rows = load_corpus("semeval_cqa", tmp_path, folder)
    test = {r.body: r.off_topic for r in rows if r.split == "test"}
    assert test == {"two weeks": 0, "thanks bro": 1, "buy gold": 1}
    assert all(r.article_title == "visa help" for r in rows)


def test_fox_news_replies_carry_the_comment_they_answer_as_parent(tmp_path: Path) -> None:
    records = [
        {"title": "A", "meta": "lead", "text": "root comment", "label": 0, "user": "u1", "mentions": "", "prev": "", "succ": "a reply"},
        {"title": "A", "meta": "lead", "text": "a reply", "label": 1, "user": "u2", "mentions": "@u1", "prev": "root comment", "succ": ""},
    ]
    others = [{**records[0], "title": title, "text": f"under {title}"} for title in ("B", "C")]  # the split is by article: three at least
    folder = tmp_path / "fox"
    _gz(folder / "fox-news-comments.jsonl.gz", "\n".join(json.dumps(r) for r in records + others))
    rows = {r.body: r for r in load_corpus("fox_news", tmp_path, folder)}
    assert rows["a reply"].parent_body == "root comment" and rows["root comment"].parent_body is None
    assert (rows["a reply"].article_title, rows["a reply"].article_text, rows["a reply"].hate) == ("A", "lead", 1)


def test_unknown_or_absent_corpus_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown corpus"):
        load_corpus("nope", tmp_path)
    with pytest.raises(DataError, match="not found"):
        load_corpus("ethos", tmp_path)


@needs_shared
@pytest.mark.parametrize(
    ("name", "rows", "labels"),
    [
        ("toxicspans", 16099, {"hate", "insult"}),
        ("fox_news", 1528, {"hate"}),
        ("globe_and_mail", 1119, set()),
        ("kaggle_insults", 8829, {"insult"}),
        ("semeval_cqa", 3250, {"off_topic"}),
        ("hatexplain", 19229, {"hate"}),
        ("davidson", 24783, {"hate"}),
        ("olid", 14100, {"insult"}),
        ("stormfront", 4998, {"hate"}),
        ("ethos", 998, {"hate"}),
        ("hatecheck", 3728, {"hate"}),
    ],
)
def test_every_shared_corpus_imports_with_its_labels_and_splits(name: str, rows: int, labels: set[str]) -> None:
    data = load_corpus(name, DATASETS)
    assert len(data) == rows
    annotated = {label for label in ("hate", "insult", "off_topic") if any(getattr(r, label) is not None for r in data)}
    assert annotated == labels
    threads_by_split: dict[str, set[str]] = {}
    for r in data:
        threads_by_split.setdefault(r.split, set()).add(r.thread_id)
    splits = list(threads_by_split.values())
    assert all(not (a & b) for i, a in enumerate(splits) for b in splits[i + 1 :]), "a thread is in two splits"
    expected_splits = {"test"} if CORPORA[name].eval_only else {"train", "validation", "test"}
    assert set(threads_by_split) == expected_splits
