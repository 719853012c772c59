"""Label (hate, insult, off_topic) and the pydantic records that cross file and API edges."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Label(StrEnum):
    """The three independent labels; their order is the column order everywhere."""

    hate = "hate"
    insult = "insult"
    off_topic = "off_topic"


LABELS: tuple[Label, ...] = tuple(Label)

Split = Literal["train", "validation", "test"]
SPLITS: tuple[Split, ...] = ("train", "validation", "test")

GUIDE_VERSION = "1.2"
"""The labelling-guide version (docs/labelling-guide.md) that hand-labelled rows follow."""


class Comment(BaseModel):
    """One parsed comment with its thread context, as `threadguard parse` writes it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    thread_id: str
    author: str | None = None
    reply_to: str | None = None
    posted_at: str | None = None
    body: str
    article_title: str | None = None
    article_text: str | None = None
    parent_body: str | None = None


class LabelledComment(BaseModel):
    """A comment with labels; a label is None when its source does not annotate it (masked in training)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str
    split: Split
    thread_id: str
    body: str = Field(min_length=1)
    article_title: str | None = None
    article_text: str | None = None
    parent_body: str | None = None
    hate: Literal[0, 1] | None = None
    insult: Literal[0, 1] | None = None
    off_topic: Literal[0, 1] | None = None
    rationale: str | None = None
    labeller: str | None = None
    guide_version: str | None = None
    labelled_at: dt.datetime | None = Field(default=None, description="when a moderator decided (exported feedback)")

    def label(self, label: Label) -> int | None:
        """The value of one label (None = not annotated)."""
        return getattr(self, label.value)


class HandLabelledComment(LabelledComment):
    """A row labelled by a person against the guide: every label, a rationale and the labeller are required."""

    hate: Literal[0, 1]
    insult: Literal[0, 1]
    off_topic: Literal[0, 1]
    rationale: str = Field(min_length=3)
    labeller: str = Field(min_length=1)
    guide_version: str

    @field_validator("guide_version")
    @classmethod
    def _known_guide_version(cls, value: str) -> str:
        if value not in KNOWN_GUIDE_VERSIONS:
            raise ValueError(f"unknown guide version {value!r}; known: {', '.join(KNOWN_GUIDE_VERSIONS)}")
        return value


KNOWN_GUIDE_VERSIONS: tuple[str, ...] = ("1.0", "1.1", "1.2")
