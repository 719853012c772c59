"""POST /v1/integrations/coral: Coral Talk's External Moderation Phase (see serving.coral)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy import or_, select

from labels.threads import comment_id
from serving.coral import SIGNATURE_HEADER, CoralModerationRequest, coral_answer, no_article_note, verify_signature
from serving.deps import ScorerDep, SettingsDep
from serving.model import Decision
from serving.problems import problem_response
from serving.routes.score import RequestProblem, decode_json_object, read_limited, store_and_queue, validation_problem
from serving.schemas import CommentIn, ErrorOut
from threadguard.tables import StoredComment

router = APIRouter(tags=["integrations"])
log = logging.getLogger(__name__)


def _known_context(sessions, request: CoralModerationRequest) -> tuple[str | None, str | None, str | None]:  # type: ignore[no-untyped-def]
    """(article title, article text, parent body) from comments threadguard already holds, else None each."""
    with sessions() as session:
        parent = None
        if request.comment.parentID:
            row = session.get(StoredComment, request.comment.parentID)
            parent = row.body if row is not None else None
        story_keys = [k for k in (request.story.id, request.story.url) if k]
        article = None
        if story_keys:
            article = session.scalars(select(StoredComment).where(StoredComment.thread_id.in_(story_keys),
                                                                 or_(StoredComment.article_title.is_not(None), StoredComment.article_text.is_not(None)))
                                      .limit(1)).first()
        return (article.article_title, article.article_text, parent) if article else (None, None, parent)


@router.post("/v1/integrations/coral", status_code=200, responses={204: {"description": "no decision"}, 401: {"model": ErrorOut}, 422: {"model": ErrorOut}})
async def coral(request: Request, settings: SettingsDep, scorer: ScorerDep) -> Response:
    """Coral's external moderation request, signed with X-Coral-Signature; answered 204 (no decision) or with a status.

    A bad or missing signature gets 401 and nothing is scored or stored. A comment withheld for review enters the
    moderation queue. Without the article (threadguard holds none for the story), off_topic is left out of the decision.
    """
    raw = await read_limited(request, settings.max_body_bytes)
    if not verify_signature(raw, request.headers.get(SIGNATURE_HEADER), settings.coral_secrets):
        why = "no Coral signing secret is configured (THREADGUARD_CORAL_SIGNING_SECRETS)" if not settings.coral_secrets else "missing or wrong signature"
        return problem_response(401, ["header", SIGNATURE_HEADER.lower()], why, "invalid_signature")
    try:
        try:
            body = CoralModerationRequest.model_validate(decode_json_object(raw))
        except ValidationError as exc:
            raise validation_problem(exc, ["body"]) from exc
    except RequestProblem as refused:
        return refused.response()
    if not body.comment.body.strip() or len(body.comment.body) > settings.max_comment_chars:
        return problem_response(422, ["body", "comment", "body"], f"comment body must have 1 to {settings.max_comment_chars} characters", "string_length")
    title, article, parent = await run_in_threadpool(_known_context, request.app.state.sessions, body)
    notes: list[str] = []
    if body.comment.parentID and parent is None:
        notes.append(f"parent comment {body.comment.parentID} is not held by threadguard; scored without it")
    thread = body.story.id or body.story.url
    comment = CommentIn(id=comment_id(thread or "", body.author.id, None, body.comment.body), body=body.comment.body, article_title=title,
                        article_text=article, parent_body=parent, thread_id=thread, author=body.author.id)
    result = (await request.app.state.scoring.score([comment]))[0]
    if not (title or article):
        notes.append(no_article_note(body.story.url or body.story.id, result))
    thresholds = await request.app.state.thresholds.lookup(body.tenant.id, scorer.thresholds)
    decision, answer = coral_answer(result, thresholds, approve_allowed=settings.coral_approve_allowed, notes=notes)
    request.app.state.metrics.observe_decisions([decision.value], thresholds.site)
    if decision in (Decision.review, Decision.reject) and answer is not None:
        queued = result.model_copy(update={"decision": decision})
        await run_in_threadpool(store_and_queue, request.app.state.sessions, thresholds.values, [comment], [queued], [True])
    log.info("coral %s from tenant %s: %s (%s)", body.action, body.tenant.id, decision.value if answer else "no decision", "; ".join(notes) or "full context")
    if answer is None:
        return Response(status_code=204)
    return JSONResponse(answer)
