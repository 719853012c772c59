"""Coral Talk's External Moderation Phase: signature check, request shape, and the answer Coral expects.

Coral POSTs every new or edited comment (tenant, action NEW/EDIT, comment body and parent id, author, story id
and URL, site) signed with HMAC-SHA256 of the raw body: `X-Coral-Signature: sha256=<hex>[,sha256=<hex>...]`,
several while a signing secret is being rotated. A request is accepted when any signature matches any configured
secret. Coral reads the answer as: 204 (no decision, the next phase decides) or 200 with `status` (APPROVED,
REJECTED, SYSTEM_WITHHELD), `actions` (FLAG with a detected reason), `metadata` and `tags`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from labels.schema import Label
from serving.model import Decision, decide
from serving.schemas import ScoreOut
from serving.site_thresholds import Thresholds

SIGNATURE_HEADER = "X-Coral-Signature"
REASONS = {"hate": "COMMENT_DETECTED_TOXIC", "insult": "COMMENT_DETECTED_TOXIC", "off_topic": "COMMENT_DETECTED_SPAM"}
STATUS = {Decision.reject: "REJECTED", Decision.review: "SYSTEM_WITHHELD", Decision.allow: "APPROVED"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CoralTenant(_Lenient):
    id: str
    domain: str | None = None


class CoralComment(_Lenient):
    body: str
    parentID: str | None = None
    id: str | None = None


class CoralAuthor(_Lenient):
    id: str | None = None
    role: str | None = None


class CoralStory(_Lenient):
    id: str | None = None
    url: str | None = None


class CoralSite(_Lenient):
    id: str | None = None


class CoralModerationRequest(_Lenient):
    """Coral's ExternalModerationPhaseRequest."""

    tenant: CoralTenant
    action: Literal["NEW", "EDIT"]
    comment: CoralComment
    author: CoralAuthor = CoralAuthor()
    story: CoralStory = CoralStory()
    site: CoralSite = CoralSite()


def sign(raw: bytes, secret: str) -> str:
    """One `sha256=<hex>` signature, as Coral computes it."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()


def verify_signature(raw: bytes, header: str | None, secrets: Sequence[str]) -> bool:
    """True when any `sha256=` signature in the header is the HMAC of the raw body under any configured secret."""
    if not header or not secrets:
        return False
    given = [part.strip()[len("sha256="):] for part in header.split(",") if part.strip().startswith("sha256=")]
    expected = [sign(raw, secret)[len("sha256="):] for secret in secrets]
    return any(hmac.compare_digest(g.lower(), e) for g in given for e in expected)


def no_article_note(story: str | None, result: ScoreOut) -> str:
    """The note for a comment scored without its story's article: whether off_topic was left out of the decision or,
    with a model whose spam head scores it alone (serving.model.judged_labels), judged as a pitch only."""
    left_out = "off_topic left out of the decision" if "off_topic" not in result.decided_by() else "off_topic judged as a pitch only (spam head)"
    return f"no article held for story {story}; {left_out}"


def coral_answer(result: ScoreOut, thresholds: Thresholds, *, approve_allowed: bool,
                 notes: list[str]) -> tuple[Decision, dict[str, Any] | None]:
    """(decision, body); body None means answer 204. Scores go in the FLAG actions' and the answer's metadata."""
    # the labels the scorer judged: off_topic only when the article came with the comment (serving.model.judged_labels)
    labels = result.decided_by()
    decision = decide({Label(label): result.scores[label] for label in labels}, thresholds.values)
    if not result.reliable:
        notes.append(f"comment appears to be {result.language.code if result.language else 'not English'}; threadguard is English-only, no decision")
        return Decision.allow, None
    if decision == Decision.allow and not approve_allowed:
        return decision, None
    scored = {"scores": result.scores, "decision": decision.value, "model": result.model.model_dump(),
              "thresholds": {"site": thresholds.site, "overridden": list(thresholds.overridden),
                             "values": {k: v.model_dump() for k, v in thresholds.values.items()}},
              "labels_decided": labels, "notes": notes}
    actions = [
        {"actionType": "FLAG", "reason": REASONS[label],
         "additionalDetails": f"threadguard {label} {result.scores[label]:.2f} (review at {thresholds.values[label].review:.2f})",
         "metadata": {"threadguard": {"label": label, "score": result.scores[label], "model": result.model.name}}}
        for label in labels if result.scores[label] >= thresholds.values[label].review
    ]
    return decision, {"status": STATUS[decision], "actions": actions, "metadata": {"threadguard": scored}, "tags": []}
