"""Perspective API compatibility: AnalyzeComment and SuggestCommentScore shapes, attribute mapping, errors.

A forum that calls Perspective's `comments:analyze` changes only the host. threadguard's labels map onto
Perspective's attributes (docs/integrations.md):

    IDENTITY_ATTACK  = hate
    INSULT           = insult
    TOXICITY         = max(hate, insult)          a comment is as toxic as its worst label
    SEVERE_TOXICITY  = max(hate, insult) ** 2     high only where the model is sure
    OFF_TOPIC        = off_topic                  threadguard's own, judged against context.entries

An attribute threadguard cannot score, a language it does not support, HTML, or an empty or over-long comment
gets Perspective's error shape (HTTP 400, error.code / message / status), never a made-up score.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ATTRIBUTES = ("TOXICITY", "SEVERE_TOXICITY", "INSULT", "IDENTITY_ATTACK", "OFF_TOPIC")
SCORE_TYPE = "PROBABILITY"
MAX_TEXT_BYTES = 20_480  # Perspective's own limit on comment.text
ERROR_TYPE = "type.googleapis.com/google.commentanalyzer.v1alpha1.Error"


class TextEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str | None = None
    type: str | None = "PLAIN_TEXT"


class ArticleAndParentComment(BaseModel):
    model_config = ConfigDict(extra="ignore")

    article: TextEntry | None = None
    parentComment: TextEntry | None = None


class Context(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entries: list[TextEntry] = Field(default_factory=list)
    articleAndParentComment: ArticleAndParentComment | None = None


class AttributeParameters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    scoreType: str | None = None
    scoreThreshold: float | None = Field(default=None, ge=0, le=1)


class AnalyzeCommentRequest(BaseModel):
    """Perspective's AnalyzeCommentRequest (unknown fields are ignored, as Perspective does)."""

    model_config = ConfigDict(extra="ignore")

    comment: TextEntry
    context: Context | None = None
    requestedAttributes: dict[str, AttributeParameters | None]
    languages: list[str] | None = None
    doNotStore: bool = False
    clientToken: str | None = None
    sessionId: str | None = None
    spanAnnotations: bool = False
    communityId: str | None = None


class Score(BaseModel):
    model_config = ConfigDict(extra="ignore")

    value: float = Field(ge=0, le=1)
    type: str | None = SCORE_TYPE


class AttributeScore(BaseModel):
    model_config = ConfigDict(extra="ignore")

    summaryScore: Score


class SuggestCommentScoreRequest(BaseModel):
    """Perspective's SuggestCommentScoreRequest: a forum's correction of a score."""

    model_config = ConfigDict(extra="ignore")

    comment: TextEntry
    context: Context | None = None
    attributeScores: dict[str, AttributeScore]
    languages: list[str] | None = None
    communityId: str | None = None
    clientToken: str | None = None
    sessionId: str | None = None


class PerspectiveError(Exception):
    """Rendered as Perspective renders errors: {"error": {"code", "message", "status", "details"}}."""

    def __init__(self, message: str, *, error_type: str = "INVALID_ARGUMENT", code: int = 400, status: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.error_type = error_type

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": str(self), "status": self.status,
                          "details": [{"@type": ERROR_TYPE, "errorType": self.error_type}]}}


def attribute_values(scores: dict[str, float]) -> dict[str, float]:
    """Every attribute threadguard answers for, from its three label scores."""
    toxic = max(scores["hate"], scores["insult"])
    return {"TOXICITY": toxic, "SEVERE_TOXICITY": toxic**2, "INSULT": scores["insult"], "IDENTITY_ATTACK": scores["hate"],
            "OFF_TOPIC": scores["off_topic"]}


def check_request(request: AnalyzeCommentRequest | SuggestCommentScoreRequest, attributes: list[str]) -> str:
    """The comment text, after Perspective's checks on text, type, attributes and languages."""
    text = request.comment.text or ""
    if (request.comment.type or "PLAIN_TEXT").upper() != "PLAIN_TEXT":
        raise PerspectiveError(f"comment.type {request.comment.type} is not supported; threadguard reads PLAIN_TEXT", error_type="INVALID_ARGUMENT")
    if not text.strip():
        raise PerspectiveError("Comment must be non-empty.", error_type="COMMENT_EMPTY")
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise PerspectiveError(f"Comment text too long: {len(text.encode('utf-8'))} bytes; the limit is {MAX_TEXT_BYTES}.",
                               error_type="COMMENT_TOO_LONG")
    if not attributes:
        raise PerspectiveError("requestedAttributes must name at least one attribute.", error_type="INVALID_ARGUMENT")
    unknown = [a for a in attributes if a not in ATTRIBUTES]
    if unknown:
        raise PerspectiveError(f"Unknown attribute: {', '.join(unknown)}. threadguard scores {', '.join(ATTRIBUTES)}.",
                               error_type="ATTRIBUTE_NOT_SUPPORTED")
    return text


def check_languages(attributes: list[str], requested: list[str] | None, detected: str, detected_english: bool) -> list[str]:
    """The languages to report; a non-English request, or a comment confidently not English, is refused like Perspective."""
    if requested:
        other = [code for code in requested if code.lower().split("-")[0] != "en"]
        if other:
            raise PerspectiveError(f"Attribute {attributes[0]} does not support request languages: {','.join(other)}",
                                   error_type="LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE")
        return requested
    if not detected_english:
        raise PerspectiveError(f"Attribute {attributes[0]} does not support request languages: {detected}",
                               error_type="LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE")
    return ["en"]


def context_texts(context: Context | None) -> tuple[str | None, str | None]:
    """(article, parent comment): articleAndParentComment when given, else context.entries[0] and [1]."""
    if context is None:
        return None, None
    pair = context.articleAndParentComment
    if pair is not None and (pair.article or pair.parentComment):
        return (pair.article.text if pair.article else None), (pair.parentComment.text if pair.parentComment else None)
    texts = [entry.text for entry in context.entries if entry.text]
    return (texts[0] if texts else None), (texts[1] if len(texts) > 1 else None)


_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(begin, end) character offsets of the sentences, trailing spaces excluded; the whole text if it has one."""
    spans = []
    for match in _SENTENCE.finditer(text):
        begin, end = match.start(), match.end()
        while begin < end and text[begin].isspace():
            begin += 1
        while end > begin and text[end - 1].isspace():
            end -= 1
        if end > begin:
            spans.append((begin, end))
    return spans or [(0, len(text))]
