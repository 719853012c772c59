"""Parse thread exports (the forum text format, JSONL, CSV) into Comment records."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labels.schema import Comment
from threadguard.errors import ParseError

# Header of one comment in the forum export: `Username [ReplyToUser] Day, MM/DD/YYYY - HH:MM Permalink`.
# The name part may hold spaces in both names; only the trailer tells where the author ends.
HEADER = re.compile(
    r"^(?P<names>\S.*?) (?P<day>Mon|Tue|Wed|Thu|Fri|Sat|Sun), "
    r"(?P<month>\d{2})/(?P<dom>\d{2})/(?P<year>\d{4}) - (?P<hour>\d{2}):(?P<minute>\d{2}) Permalink$"
)
# A line that ends like a header but does not match it is a damaged header, not body text.
HEADER_LIKE = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun),? .*\bPermalink\s*$")
TRAILER = re.compile(r"^In reply to by (?P<target>\S.*?)\s*$")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

TEXT_FIELDS = ("author", "reply_to", "posted_at", "article_title", "article_text", "parent_body")
MAX_BODY_CHARS = 20_000


def comment_id(thread_id: str, author: str | None, posted_at: str | None, body: str) -> str:
    """A stable id: the same comment in the same thread always hashes to the same id."""
    key = "\x1f".join([thread_id, author or "", posted_at or "", body])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def thread_id_for(article_title: str | None, article_text: str | None, fallback: str) -> str:
    """Threads are named by their article, so two exports of one article share a thread id."""
    if not article_title and not article_text:
        return fallback
    key = f"{article_title or ''}\x1f{article_text or ''}"
    return "t" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:15]


def read_text(path: Path) -> str:
    """Read a file as UTF-8, naming the line of the first undecodable byte."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ParseError(path, 0, f"cannot read file: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ParseError(path, line, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from exc


@dataclass
class _Draft:
    """A comment being assembled while its body lines are read."""

    line: int
    names: str
    posted_at: str
    body: list[str] = field(default_factory=list)
    reply_to: str | None = None


def _parse_header(path: Path, lineno: int, match: re.Match[str]) -> _Draft:
    try:
        when = dt.datetime(
            int(match["year"]), int(match["month"]), int(match["dom"]), int(match["hour"]), int(match["minute"])
        )
    except ValueError as exc:
        raise ParseError(path, lineno, f"invalid date or time in comment header: {exc}") from exc
    if WEEKDAYS[when.weekday()] != match["day"]:
        raise ParseError(
            path, lineno, f"weekday {match['day']} does not match {when:%m/%d/%Y} (a {WEEKDAYS[when.weekday()]})"
        )
    return _Draft(line=lineno, names=match["names"].strip(), posted_at=when.isoformat())


def _finish(path: Path, draft: _Draft) -> tuple[str, str | None, str, str]:
    """Split the header names into author and reply target and return (author, reply_to, posted_at, body)."""
    body = "\n".join(line.rstrip() for line in draft.body).strip()
    if not body:
        raise ParseError(path, draft.line, "comment has no body text")
    if draft.reply_to is None:
        return draft.names, None, draft.posted_at, body
    suffix = " " + draft.reply_to
    if not draft.names.endswith(suffix) or len(draft.names) == len(suffix):
        raise ParseError(
            path,
            draft.line,
            f"header names {draft.names!r} do not end with the reply target {draft.reply_to!r} "
            "given by its 'In reply to by' trailer",
        )
    return draft.names[: -len(suffix)], draft.reply_to, draft.posted_at, body


def parse_export(path: Path) -> list[Comment]:
    """Parse one forum export: article title, article text, then comments with optional reply trailers."""
    lines = read_text(path).splitlines()
    first_header = next((i for i, line in enumerate(lines) if HEADER.match(line)), len(lines))
    preamble = [line.rstrip() for line in lines[:first_header]]
    for offset, line in enumerate(preamble):
        if HEADER_LIKE.search(line):
            raise ParseError(path, offset + 1, f"malformed comment header: {line.strip()!r}")
    non_empty = [line for line in preamble if line.strip()]
    article_title = non_empty[0].strip() if non_empty else None
    article_text = "\n".join(non_empty[1:]).strip() or None
    thread_id = thread_id_for(article_title, article_text, path.stem)

    drafts: list[_Draft] = []
    for index in range(first_header, len(lines)):
        lineno, line = index + 1, lines[index]
        header = HEADER.match(line)
        if header:
            drafts.append(_parse_header(path, lineno, header))
            continue
        trailer = TRAILER.match(line)
        if trailer:
            draft = drafts[-1]
            if draft.reply_to is not None:
                raise ParseError(path, lineno, "second 'In reply to by' trailer for one comment")
            draft.reply_to = trailer["target"]
            continue
        if HEADER_LIKE.search(line):
            raise ParseError(
                path, lineno, "malformed comment header, expected 'Username [ReplyToUser] Day, MM/DD/YYYY - HH:MM Permalink'"
            )
        if drafts[-1].reply_to is not None and line.strip():
            raise ParseError(path, lineno, "text after an 'In reply to by' trailer, expected a comment header")
        drafts[-1].body.append(line)

    finished = [_finish(path, draft) for draft in drafts]
    return _link_parents(
        [
            Comment(
                id=comment_id(thread_id, author, posted_at, body),
                thread_id=thread_id,
                author=author,
                reply_to=reply_to,
                posted_at=posted_at,
                body=body,
                article_title=article_title,
                article_text=article_text,
            )
            for author, reply_to, posted_at, body in finished
        ]
    )


def _link_parents(comments: list[Comment]) -> list[Comment]:
    """Fill parent_body: the reply target's latest comment posted no later than the reply."""
    by_author: dict[str, list[Comment]] = {}
    for comment in comments:
        by_author.setdefault(comment.author or "", []).append(comment)
    linked = []
    for comment in comments:
        parent = None
        if comment.reply_to and comment.reply_to in by_author:
            earlier = [
                c
                for c in by_author[comment.reply_to]
                if c.id != comment.id and (c.posted_at or "") <= (comment.posted_at or "")
            ]
            if earlier:
                parent = max(earlier, key=lambda c: c.posted_at or "")
        linked.append(comment.model_copy(update={"parent_body": parent.body if parent else None}))
    return linked


def record_to_comment(path: Path, lineno: int, record: object) -> Comment:
    """Validate one JSONL/CSV record into a Comment, filling id and thread_id when absent."""
    if not isinstance(record, dict):
        raise ParseError(path, lineno, f"expected a JSON object, found {type(record).__name__}")
    body = record.get("body")
    if body is None:
        body = record.get("text")
    if not isinstance(body, str) or not body.strip():
        raise ParseError(path, lineno, "missing or empty field 'body'")
    if len(body) > MAX_BODY_CHARS:
        raise ParseError(path, lineno, f"field 'body' is {len(body)} characters, the limit is {MAX_BODY_CHARS}")
    values: dict[str, str | None] = {}
    for name in TEXT_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise ParseError(path, lineno, f"field {name!r} must be a string or null, found {type(value).__name__}")
        values[name] = value or None
    thread_id = record.get("thread_id")
    if thread_id is not None and not isinstance(thread_id, (str, int)):
        raise ParseError(path, lineno, "field 'thread_id' must be a string")
    thread = str(thread_id) if thread_id else thread_id_for(values["article_title"], values["article_text"], path.stem)
    raw_id = record.get("id")
    if raw_id is not None and not isinstance(raw_id, (str, int)):
        raise ParseError(path, lineno, "field 'id' must be a string")
    ident = str(raw_id) if raw_id not in (None, "") else comment_id(thread, values["author"], values["posted_at"], body)
    return Comment(id=ident, thread_id=thread, body=body, **values)


def _iter_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    for lineno, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            raise ParseError(path, lineno, f"invalid JSON: {exc.msg} at column {exc.colno}") from exc


def _iter_csv(path: Path) -> Iterator[tuple[int, object]]:
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    if reader.fieldnames is None:
        return
    if "body" not in reader.fieldnames and "text" not in reader.fieldnames:
        raise ParseError(path, 1, f"no 'body' column; found columns {', '.join(reader.fieldnames)}")
    for record in reader:
        if None in record:
            raise ParseError(path, reader.line_num, "more fields than the header has columns")
        yield reader.line_num, {k: (v if v != "" else None) for k, v in record.items()}


def parse_file(path: Path) -> list[Comment]:
    """Parse any supported file by its extension: .jsonl/.json, .csv, else the forum text export."""
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".json", ".ndjson"}:
        return [record_to_comment(path, n, r) for n, r in _iter_jsonl(path)]
    if suffix == ".csv":
        return [record_to_comment(path, n, r) for n, r in _iter_csv(path)]
    return parse_export(path)


def parse_files(paths: list[Path]) -> list[Comment]:
    """Parse several files in order; the first malformed file stops with its file:line error."""
    return [comment for path in paths for comment in parse_file(path)]
