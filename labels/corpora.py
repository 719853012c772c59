"""Map public corpora onto our labels, one function per corpus, caveats in docstrings.

Every importer returns LabelledComment rows with the corpus's official split where it has one, else a
seeded split by thread, article or post. A label the corpus does not annotate is None (masked in
training), never 0. See docs/data.md for the mapping table and caveats.
"""

from __future__ import annotations

import ast
import csv
import gzip
import hashlib
import io
import json
import logging
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from labels.schema import LabelledComment, Split
from labels.sets import sha256_of_file, split_for_group, split_groups
from threadguard.errors import DataError

log = logging.getLogger(__name__)

SPLIT_SEED = 20261123
"""Seed of every split this module makes; changing it changes the data hashes in model cards."""

csv.field_size_limit(10_000_000)


def _open_text(path: Path) -> io.TextIOBase:
    if not path.exists():
        raise DataError(f"corpus file not found: {path}")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _csv_rows(path: Path, delimiter: str = ",") -> Iterator[dict[str, str]]:
    with _open_text(path) as fh:
        yield from csv.DictReader(fh, delimiter=delimiter)


def _row_id(source: str, key: str) -> str:
    return hashlib.sha256(f"{source}\x1f{key}".encode()).hexdigest()[:16]


def _clean(text: str | None) -> str:
    return " ".join((text or "").split()) if text else ""


def _row(source: str, key: str, split: Split, body: str, *, thread: str | None = None, **labels) -> LabelledComment:
    return LabelledComment(
        id=_row_id(source, key), source=source, split=split, thread_id=f"{source}:{thread or key}", body=body, **labels
    )


# --- news comments -----------------------------------------------------------------------------


def load_toxicspans(folder: Path) -> list[LabelledComment]:
    """ToxicSpans (Civil Comments news comments, CC0): insult / hate from >= 50% of raters' typed spans.

    Every post was pre-selected as toxic by Civil Comments raters, so base rates are unlike a real stream
    and a 0 means "toxic but not an insult by majority". No official split: seeded by post.
    """
    texts = {r["comment_id"]: r["comment_text"] for r in _csv_rows(folder / "comments.csv.gz")}
    raters: dict[str, list[str]] = defaultdict(list)
    for r in _csv_rows(folder / "annotations.csv.gz"):
        raters[r["comment_id"]].append(r["annotation"])
    types: dict[str, set[str]] = defaultdict(set)
    for r in _csv_rows(folder / "spans.csv.gz"):
        kind = r["type"].strip()
        if kind.startswith("Insu"):
            types[r["annotation"]].add("insult")
        elif kind.startswith("Identity"):
            types[r["annotation"]].add("hate")
    rows = []
    for cid, ratings in raters.items():
        if len(ratings) > 50 or cid not in texts or not texts[cid].strip():
            continue  # the quality-control quiz item has 357 raters
        n = len(ratings)
        insult = sum("insult" in types[a] for a in ratings) / n >= 0.5
        hate = sum("hate" in types[a] for a in ratings) / n >= 0.5
        split = split_for_group(f"toxicspans:{cid}", seed=SPLIT_SEED)
        rows.append(_row("toxicspans", cid, split, texts[cid], hate=int(hate), insult=int(insult)))
    return rows


def load_fox_news(folder: Path) -> list[LabelledComment]:
    """Fox News threads (MIT): hate from the authors' hateful label; headline + description as article.

    Only 10 threads, so the split is by article (6/2/2) to keep thread vocabulary out of test (6/2/2). `prev` is
    the comment a reply answers, so it is the parent: in all 813 rows that have one, prev's author is the reply's
    first @mention, and 133 prevs answer several replies. A comment with no prev starts a sub-thread.
    """
    with _open_text(folder / "fox-news-comments.jsonl.gz") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    splits = split_groups([r["title"] for r in records], seed=SPLIT_SEED)
    rows = []
    for i, r in enumerate(records):
        if not r["text"].strip():
            continue
        row = _row("fox_news", f"{i}:{r['text']}", splits[r["title"]], r["text"], thread=r["title"], hate=int(r["label"]))
        rows.append(row.model_copy(update={"article_title": r["title"], "article_text": r.get("meta") or None, "parent_body": r.get("prev") or None}))
    return rows


def _globe_article_id(url: str) -> str:
    """Titles vary (some carry " - The Globe and Mail"), the article number in the URL does not."""
    match = re.search(r"article(\d+)", url)
    return match.group(1) if match else url


def load_globe_and_mail(folder: Path) -> list[LabelledComment]:
    """SFU CTC Globe and Mail comments (CC BY-NC-SA 4.0, non-commercial): article titles, no hate/insult.

    Toxicity is a weak "abusive" signal, not our insult, so it is not mapped; the rows feed synthetic
    off-topic pairs (comment vs its own / another article's title). Split by article (60/20/20).
    """
    records = [r for r in _csv_rows(folder / "SFU_constructiveness_toxicity.csv.gz") if r["comment"].strip()]
    article = {r["_unit_id"]: _globe_article_id(r["globe_url"]) for r in records}
    splits = split_groups(list(article.values()), seed=SPLIT_SEED)
    rows = []
    for r in records:
        key = article[r["_unit_id"]]
        title = r["title"].removesuffix(" - The Globe and Mail").strip()
        row = _row("globe_and_mail", r["_unit_id"], splits[key], r["comment"].strip(), thread=key)
        rows.append(row.model_copy(update={"article_title": title}))
    return rows


def _unescape_kaggle(text: str) -> str:
    """Kaggle insults text is a Python-escaped string in quotes, with UTF-8 bytes as \\xNN escapes."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    try:
        decoded = ast.literal_eval('"""' + text.replace('"""', '\\"\\"\\"') + ' """')[:-1]
    except (ValueError, SyntaxError):
        decoded = text
    try:
        decoded = decoded.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        pass
    # Newlines were escaped twice in the source ("\\n"), so one literal backslash-n is left after decoding.
    return decoded.replace("\\n", "\n").strip()


def load_kaggle_insults(folder: Path) -> list[LabelledComment]:
    """Kaggle "Detecting Insults in Social Commentary" (licence unclear, research use): insult only.

    Official train / test / verification used as train / validation / test. Its insult is "insulting a
    participant in the conversation", so a 0 is a weak negative for our broader insult.
    """
    files: list[tuple[str, Split]] = [
        ("train.csv.gz", "train"),
        ("test_with_solutions.csv.gz", "validation"),
        ("impermium_verification_labels.csv.gz", "test"),
    ]
    rows = []
    for name, split in files:
        for i, r in enumerate(_csv_rows(folder / name)):
            body = _unescape_kaggle(r["Comment"])
            if body:
                rows.append(_row("kaggle_insults", f"{name}:{i}", split, body, insult=int(r["Insult"])))
    return rows


def load_semeval_cqa(folder: Path) -> list[LabelledComment]:
    """SemEval-2015 Task 3 Qatar Living threads (research-only): off_topic ~ Bad or Dialogue vs the question.

    The question subject/body is the "article". Potential is ambiguous and dropped; Not English dropped.
    devel is split by thread into train / validation, the official test is test.
    """
    rows = []
    for name, official in (("CQA-QL-devel.xml.gz", None), ("CQA-QL-test.xml.gz", "test")):
        with _open_text(folder / name) as fh:
            root = ET.fromstring(fh.read())
        for question in root.iter("Question"):
            qid = question.get("QID", "")
            split: Split = official or ("validation" if split_for_group(f"semeval:{qid}", seed=SPLIT_SEED, fractions=(0.8, 0.2)) != "train" else "train")  # type: ignore[assignment]
            title = _clean(question.findtext("QSubject"))
            text = _clean(question.findtext("QBody"))
            for comment in question.iter("Comment"):
                gold = comment.get("CGOLD")
                body = _clean(comment.findtext("CBody"))
                if gold not in {"Good", "Bad", "Dialogue"} or not body:
                    continue
                row = _row("semeval_cqa", comment.get("CID", body), split, body, thread=qid, off_topic=int(gold != "Good"))
                rows.append(row.model_copy(update={"article_title": title or None, "article_text": text or None}))
    return rows


HATEXPLAIN_CLASSES = {"0": "normal", "1": "hatespeech", "2": "offensive"}


def hatexplain_three_class(folder: Path, split: str = "test") -> list[tuple[str, str]]:
    """(text, class) of one official HateXplain split with the original three classes (no-majority posts dropped)."""
    return [(r["text"], HATEXPLAIN_CLASSES[r["category"]]) for r in _csv_rows(folder / "hatexplain_mbib_with_split.csv.gz")
            if r["split"] == split and r["category"] in HATEXPLAIN_CLASSES and r["text"].strip()]


# --- hate and offensive-language corpora ---------------------------------------------------------


def load_hatexplain(folder: Path) -> list[LabelledComment]:
    """HateXplain (MIT / CC BY 4.0; MBIB copy GPL-3.0): hate <- hatespeech majority, official splits.

    MBIB lower-cased the text and stripped punctuation. "offensive" mixes profanity and insults, so insult
    stays None. Posts without a majority are dropped, as the authors do.
    """
    split_map: dict[str, Split] = {"train": "train", "val": "validation", "test": "test"}
    rows = []
    for r in _csv_rows(folder / "hatexplain_mbib_with_split.csv.gz"):
        if r["split"] not in split_map or r["category"] == "3" or not r["text"].strip():
            continue
        rows.append(_row("hatexplain", r["post_id"], split_map[r["split"]], r["text"], hate=int(r["category"] == "1")))
    return rows


def hatexplain_offensive_ids(folder: Path) -> frozenset[str]:
    """Ids of the HateXplain rows whose majority chose "offensive" (category 2), which load_hatexplain maps to hate 0."""
    return frozenset(_row_id("hatexplain", r["post_id"]) for r in _csv_rows(folder / "hatexplain_mbib_with_split.csv.gz") if r["category"] == "2")


def load_davidson(folder: Path) -> list[LabelledComment]:
    """Davidson et al. 2017 tweets (MIT): hate <- class 0. Noisy; offensive is not our insult (None)."""
    rows = []
    for r in _csv_rows(folder / "labeled_data.csv.gz"):
        key = r[""]
        split = split_for_group(f"davidson:{key}", seed=SPLIT_SEED)
        body = r["tweet"].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").strip()
        if body:
            rows.append(_row("davidson", key, split, body, hate=int(r["class"] == "0")))
    return rows


def davidson_offensive_ids(folder: Path) -> frozenset[str]:
    """Ids of the Davidson tweets labelled offensive (class 1), which load_davidson maps to hate 0."""
    return frozenset(_row_id("davidson", r[""]) for r in _csv_rows(folder / "labeled_data.csv.gz") if r["class"] == "1")


def load_olid(folder: Path) -> list[LabelledComment]:
    """OLID / OffensEval 2019 tweets (research use): insult <- targeted offence (TIN), else 0.

    TIN also holds threats; GRP includes political groups, so hate is not mapped. Training file is
    split seeded into train / validation; the official level-A/B test is test.
    """
    rows = []
    for r in _csv_rows(folder / "olid-training-v1.0.tsv.gz", delimiter="\t"):
        split = "validation" if split_for_group(f"olid:{r['id']}", seed=SPLIT_SEED, fractions=(0.9, 0.1)) != "train" else "train"
        insult = int(r["subtask_a"] == "OFF" and r["subtask_b"] == "TIN")
        rows.append(_row("olid", r["id"], split, r["tweet"], insult=insult))  # type: ignore[arg-type]
    level_a = {line.split(",")[0]: line.split(",")[1].strip() for line in _lines(folder / "labels-levela.csv")}
    level_b = {line.split(",")[0]: line.split(",")[1].strip() for line in _lines(folder / "labels-levelb.csv")}
    for r in _csv_rows(folder / "testset-levela.tsv.gz", delimiter="\t"):
        insult = int(level_a.get(r["id"]) == "OFF" and level_b.get(r["id"]) == "TIN")
        rows.append(_row("olid", r["id"], "test", r["tweet"], insult=insult))
    return rows


def _lines(path: Path) -> list[str]:
    with _open_text(path) as fh:
        return [line for line in fh.read().splitlines() if line.strip()]


def load_stormfront(folder: Path) -> list[LabelledComment]:
    """Stormfront sentences (CC BY-SA 3.0) rebuilt into posts: hate if any sentence is hate or relation.

    noHate text from a hate forum is still ideologically loaded, so it is a poor generic negative.
    idk/skip sentences are dropped. Seeded split by post.
    """
    posts: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for r in _csv_rows(folder / "stormfront_sentences.csv.gz"):
        if r["label"] in {"hate", "noHate", "relation"} and r["text"].strip():
            posts[r["post_id"]].append((int(r["sentence_no"]), r["label"], r["text"].strip()))
    rows = []
    for post_id, sentences in posts.items():
        sentences.sort()
        body = " ".join(text for _, _, text in sentences)
        hate = any(label in {"hate", "relation"} for _, label, _ in sentences)
        split = split_for_group(f"stormfront:{post_id}", seed=SPLIT_SEED)
        rows.append(_row("stormfront", post_id, split, body, hate=int(hate)))
    return rows


def load_ethos(folder: Path) -> list[LabelledComment]:
    """ETHOS binary (GPL-3.0): hate <- isHate >= 0.5. Broad notion of hate; small and balanced."""
    rows = []
    for i, r in enumerate(_csv_rows(folder / "Ethos_Dataset_Binary.csv", delimiter=";")):
        split = split_for_group(f"ethos:{i}", seed=SPLIT_SEED)
        if r["comment"].strip():
            rows.append(_row("ethos", str(i), split, r["comment"].strip(), hate=int(float(r["isHate"]) >= 0.5)))
    return rows


def load_hatecheck(folder: Path) -> list[LabelledComment]:
    """HateCheck (CC BY 4.0): EVALUATION ONLY. hate <- label_gold; every row is in the test split.

    The functionality is kept in thread_id ("hatecheck:<functionality>") for per-functionality reports.
    """
    rows = []
    for r in _csv_rows(folder / "test_suite_cases.csv.gz"):
        rows.append(
            _row("hatecheck", r["case_id"], "test", r["test_case"].strip(), thread=r["functionality"], hate=int(r["label_gold"] == "hateful"))
        )
    return rows


def hatecheck_cases(folder: Path) -> dict[str, tuple[str, str]]:
    """Row id -> (functionality, target group) of every HateCheck case, for per-functionality reports."""
    return {
        _row_id("hatecheck", r["case_id"]): (r["functionality"], r["target_ident"] or "none")
        for r in _csv_rows(folder / "test_suite_cases.csv.gz")
    }


# --- registry --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusSpec:
    """One public corpus: where it lives under the datasets dir, how to import it, what it may be used for."""

    name: str
    folder: str
    loader: Callable[[Path], list[LabelledComment]]
    licence: str
    commercial_use: bool
    eval_only: bool = False
    # the ids of the rows in an "offensive" class that the loader maps to hate 0 (labels/slurs.py)
    offensive_ids: Callable[[Path], frozenset[str]] | None = None


CORPORA: dict[str, CorpusSpec] = {
    spec.name: spec
    for spec in [
        CorpusSpec("toxicspans", "toxicspans2022_civil_comments", load_toxicspans, "CC0 1.0", True),
        CorpusSpec("fox_news", "fox_news_comments2017", load_fox_news, "MIT", True),
        CorpusSpec("globe_and_mail", "sfu_ctc_globe_and_mail2017", load_globe_and_mail, "CC BY-NC-SA 4.0 (non-commercial)", False),
        CorpusSpec("kaggle_insults", "kaggle_insults2012", load_kaggle_insults, "unclear (research use)", False),
        CorpusSpec("semeval_cqa", "semeval2015_task3_cqa", load_semeval_cqa, "research-only", False),
        CorpusSpec("hatexplain", "hatexplain2021", load_hatexplain, "MIT / CC BY 4.0 (MBIB copy GPL-3.0)", True,
                   offensive_ids=hatexplain_offensive_ids),
        CorpusSpec("davidson", "davidson2017_hate_offensive", load_davidson, "MIT", True, offensive_ids=davidson_offensive_ids),
        CorpusSpec("olid", "olid_offenseval2019", load_olid, "none stated (research use)", False),
        CorpusSpec("stormfront", "stormfront_hate2018", load_stormfront, "CC BY-SA 3.0 ES", True),
        CorpusSpec("ethos", "ethos2022", load_ethos, "GPL-3.0", True),
        CorpusSpec("hatecheck", "hatecheck2021", load_hatecheck, "CC BY 4.0", True, eval_only=True),
    ]
}


def corpus_folder(name: str, datasets_dir: Path, path: Path | None = None) -> Path:
    """The folder a corpus is read from: an explicit path, else its folder under datasets_dir."""
    if name not in CORPORA:
        raise DataError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    folder = path if path is not None else datasets_dir / CORPORA[name].folder
    if not folder.is_dir():
        raise DataError(f"corpus {name!r} not found at {folder} (set THREADGUARD_DATASETS_DIR or the source's path)")
    return folder


def load_corpus(name: str, datasets_dir: Path, path: Path | None = None) -> list[LabelledComment]:
    """Import one public corpus by name."""
    folder = corpus_folder(name, datasets_dir, path)
    rows = CORPORA[name].loader(folder)
    log.info("imported %s: %d rows from %s", name, len(rows), folder)
    return rows


def corpus_file_hashes(name: str, datasets_dir: Path, path: Path | None = None) -> dict[str, str]:
    """sha256 of every file in a corpus folder, for the model card."""
    folder = corpus_folder(name, datasets_dir, path)
    return {p.name: sha256_of_file(p) for p in sorted(folder.iterdir()) if p.is_file()}


def load_hub_dataset(hub_id: str, *, source: str) -> list[LabelledComment]:
    """Load a `datasets` hub id whose columns are our schema (body or text, hate, insult, off_topic).

    Splits named train / validation (or val, dev) / test are kept. Needs the `datasets` package and a
    reachable hub; neither exists on the offline build machines, which use local files instead.
    """
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError as exc:
        raise DataError(f"loading hub id {hub_id!r} needs the 'datasets' package (pip install datasets)") from exc
    try:
        dataset_dict = datasets.load_dataset(hub_id)
    except Exception as exc:
        raise DataError(f"could not load hub dataset {hub_id!r}: {exc}") from exc
    names: dict[str, Split] = {"train": "train", "validation": "validation", "val": "validation", "dev": "validation", "test": "test"}
    rows = []
    for split_name, part in dataset_dict.items():
        if split_name not in names:
            continue
        for i, record in enumerate(part):
            rows.append(_hub_record(source, f"{split_name}:{i}", names[split_name], record))
    return rows


def _hub_record(source: str, key: str, split: Split, record: dict) -> LabelledComment:
    body = record.get("body") or record.get("text") or ""

    def flag(name: str) -> int | None:
        value = record.get(name)
        return None if value is None else int(float(value) >= 0.5)

    row = _row(source, key, split, body, hate=flag("hate"), insult=flag("insult"), off_topic=flag("off_topic"))
    return row.model_copy(update={k: record.get(k) for k in ("article_title", "article_text", "parent_body")})


def iter_texts(rows: Iterable[LabelledComment]) -> Iterator[str]:
    """Normalised bodies, for overlap checks between sets."""
    for row in rows:
        yield " ".join(row.body.lower().split())
