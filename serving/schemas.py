"""API request/response models (the JSON edges of the scoring service)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from serving.model import Decision


class CommentIn(BaseModel):
    """One comment to score, with optional context; context fields may be null or absent."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, max_length=200, description="your id; a stable hash of the body when absent")
    body: str = Field(min_length=1, description="the comment text (at most 20,000 characters)")
    article_title: str | None = None
    article_text: str | None = None
    parent_body: str | None = None
    thread_id: str | None = Field(default=None, max_length=200)
    author: str | None = Field(default=None, max_length=200)
    enqueue: bool = Field(default=False, description="store the comment and queue it for moderators if it scores review or reject")


class BatchIn(BaseModel):
    """A batch of 1 to 256 comments, answered in input order."""

    model_config = ConfigDict(extra="forbid")

    comments: list[CommentIn] = Field(min_length=1)
    enqueue: bool = Field(default=False, description="queue every comment of the batch that scores review or reject")


class ModelRef(BaseModel):
    """Which model scored a comment."""

    name: str
    version: str


class LanguageOut(BaseModel):
    """The language the comment appears to be in (ISO 639-1) and how sure language ID is."""

    code: str
    confidence: float


class ThresholdsRef(BaseModel):
    """Which thresholds decided: the model's own (site null) or a site's, for the labels it overrides."""

    site: str | None = None
    overridden: list[str] = Field(default_factory=list)


class ScoreOut(BaseModel):
    """Per-label scores in [0, 1] and the decision from the model's thresholds."""

    id: str
    scores: dict[str, float]
    decision: Decision
    model: ModelRef
    language: LanguageOut | None = None
    reliable: bool = Field(default=True, description="false when the comment appears not to be English: the model is English-only")
    thresholds: ThresholdsRef | None = Field(default=None, description="the thresholds that made the decision (the API key's site's, else the model's)")
    judged: list[str] | None = Field(default=None, description="the labels whose thresholds made the decision: off_topic only when the "
                                                               "comment came with its article (title or text), or when the model has a spam head "
                                                               "(then off_topic without an article is its pitch score); every label when absent")

    def decided_by(self) -> list[str]:
        """The labels whose thresholds decide this result: those judged, every scored label when `judged` is absent."""
        return list(self.judged) if self.judged is not None else list(self.scores)


class BatchOut(BaseModel):
    """Results of a batch, in input order."""

    results: list[ScoreOut]


class ErrorItem(BaseModel):
    """One problem with a request: where (loc) and what (msg)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every 4xx body: a list of problems naming the field."""

    detail: list[ErrorItem]


class ReportIn(BaseModel):
    """A forum's report of a comment (a reader flagged it): it goes to the moderators' reported queue."""

    model_config = ConfigDict(extra="forbid")

    comment: CommentIn
    reason: str = Field(default="", max_length=2000)


class ReportOut(BaseModel):
    """Where the report landed."""

    item_id: int
    comment_id: str
    status: str
