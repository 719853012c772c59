from __future__ import annotations

from pathlib import Path

import pytest

from labels.threads import parse_file, parse_files
from tests.conftest import SEEDS
from threadguard.errors import ParseError

needs_seeds = pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not beside the checkout")


@needs_seeds
def test_seed_files_give_the_documented_comment_counts() -> None:
    counts = [len(parse_file(p)) for p in sorted(SEEDS.glob("*.txt"))]
    assert counts == [16, 0, 9, 0, 0]


@needs_seeds
def test_reply_links_survive_usernames_with_spaces() -> None:
    first = parse_file(sorted(SEEDS.glob("*.txt"))[0])
    by_body = {c.body.split()[0] + c.posted_at: c for c in first}
    first_comment = first[0]
    assert (first_comment.author, first_comment.reply_to) == ("CashMcCall", "Ghost of PartysOver")
    two_hoots = next(c for c in first if c.author == "two hoots")
    assert two_hoots.reply_to == "Pandelis"
    fiscal = next(c for c in first if c.author == "Fiscal Smegma")
    assert fiscal.reply_to is None  # no trailer: the whole name part is the author
    assert by_body


@needs_seeds
def test_header_without_trailer_has_no_reply_target_even_with_spaces() -> None:
    third = parse_file(sorted(SEEDS.glob("*.txt"))[2])
    nemo = next(c for c in third if c.author == "Son of Captain Nemo")
    assert nemo.reply_to is None
    assert nemo.posted_at == "2018-05-01T21:35:00"
    acula = third[0]
    assert (acula.author, acula.reply_to) == ("giovanni_f", "Dr. Acula")


@needs_seeds
def test_article_title_text_and_parent_are_attached() -> None:
    comments = parse_file(sorted(SEEDS.glob("*.txt"))[0])
    assert all(c.article_title and c.article_title.startswith("US- China Trade Talks") for c in comments)
    assert all(c.article_text and "Bloomberg" in c.article_text for c in comments)
    reply = next(c for c in comments if c.author == "CashMcCall" and c.reply_to == "truthalwayswinsout")
    assert reply.parent_body is not None and reply.parent_body.startswith("$50 billion")


@needs_seeds
def test_ids_are_stable_and_unique() -> None:
    paths = sorted(SEEDS.glob("*.txt"))
    first, second = parse_files(paths), parse_files(paths)
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)


def _write(tmp_path: Path, text: str | bytes, name: str = "thread.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


GOOD = "Title line\n\nArticle text.\n\nAlice Smith Bob Jones Tue, 04/10/2018 - 10:48 Permalink\n\nHello Bob.\n\nIn reply to by Bob Jones\n\nBob Jones Tue, 04/10/2018 - 10:40 Permalink\n\nFirst!\n"


def test_trailer_splits_author_and_target(tmp_path: Path) -> None:
    comments = parse_file(_write(tmp_path, GOOD))
    assert [(c.author, c.reply_to) for c in comments] == [("Alice Smith", "Bob Jones"), ("Bob Jones", None)]
    assert comments[0].parent_body == "First!"
    assert comments[0].article_title == "Title line" and comments[0].article_text == "Article text."


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("T\n\nfoo bar Tue, 04/10/2018 - 10:48 Permalink\nhello\nIn reply to by baz\n", 3, "do not end with the reply target"),
        ("T\n\nfoo Tue, 02/30/2018 - 10:48 Permalink\nhello\n", 3, "invalid date"),
        ("T\n\nfoo Mon, 04/10/2018 - 10:48 Permalink\nhello\n", 3, "weekday Mon does not match"),
        ("T\n\nfoo Tue, 4/10/18 - 10:48 Permalink\nhello\n", 3, "malformed comment header"),
        ("T\n\nfoo Tue, 04/10/2018 - 10:48 Permalink\n\nbar Tue, 04/10/2018 - 10:49 Permalink\nx\n", 3, "no body"),
        ("T\n\nfoo Tue, 04/10/2018 - 10:48 Permalink\nhi\nIn reply to by x\nIn reply to by y\n", 6, "second"),
    ],
)
def test_malformed_export_names_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ParseError) as info:
        parse_file(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert fragment in str(info.value)


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, b"Title\n\nfoo Tue, 04/10/2018 - 10:48 Permalink\ncaf\xe9\n")
    with pytest.raises(ParseError, match=r":4: not valid UTF-8"):
        parse_file(path)


def test_file_without_comments_is_not_an_error(tmp_path: Path) -> None:
    assert parse_file(_write(tmp_path, "Just an article\n\nNo comments here.\n")) == []
    assert parse_file(_write(tmp_path, "", name="empty.txt")) == []


def test_jsonl_rows_get_ids_and_bad_lines_are_located(tmp_path: Path) -> None:
    good = _write(tmp_path, '{"body": "hi", "article_title": "A"}\n\n{"id": "x1", "body": "yo", "parent_body": null}\n', "c.jsonl")
    comments = parse_file(good)
    assert comments[0].id and comments[1].id == "x1" and comments[1].parent_body is None
    bad = _write(tmp_path, '{"body": "hi"}\n{"body": \n', "bad.jsonl")
    with pytest.raises(ParseError, match=r"bad.jsonl:2: invalid JSON"):
        parse_file(bad)
    missing = _write(tmp_path, '{"body": "hi"}\n{"text": null, "body": null}\n', "missing.jsonl")
    with pytest.raises(ParseError, match=r":2: missing or empty field 'body'"):
        parse_file(missing)
    wrong = _write(tmp_path, '{"body": "hi", "article_title": 3}\n', "wrong.jsonl")
    with pytest.raises(ParseError, match=r":1: field 'article_title' must be a string"):
        parse_file(wrong)
    array = _write(tmp_path, '["hi"]\n', "array.jsonl")
    with pytest.raises(ParseError, match=r":1: expected a JSON object"):
        parse_file(array)


def test_csv_needs_a_body_column(tmp_path: Path) -> None:
    ok = _write(tmp_path, "id,body,article_title\n1,hello there,Trade\n2,\"multi\nline\",\n", "c.csv")
    comments = parse_file(ok)
    assert [c.id for c in comments] == ["1", "2"] and comments[1].body == "multi\nline"
    bad = _write(tmp_path, "id,comment\n1,hello\n", "bad.csv")
    with pytest.raises(ParseError, match=r"bad.csv:1: no 'body' column"):
        parse_file(bad)
