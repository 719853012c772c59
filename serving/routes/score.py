"""POST /v1/score: one comment object, or {"comments": [...]} for a batch."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from serving.deps import ClientDep, ScorerDep, SettingsDep
from serving.observability import MODEL_VERSION
from serving.problems import problem
from serving.queue import enqueue as enqueue_comment
from serving.schemas import BatchIn, BatchOut, CommentIn, ErrorOut, ScoreOut
from serving.site_thresholds import apply_thresholds

router = APIRouter(tags=["score"])


class RequestProblem(Exception):
    """A bad request, reported as {"detail": [{loc, msg, type}]} with its status."""

    def __init__(self, status: int, loc: list[str | int], msg: str, kind: str) -> None:
        super().__init__(msg)
        self.status = status
        self.detail = [problem(loc, msg, kind)]

    def response(self) -> JSONResponse:
        """The error response every route answers this problem with."""
        return JSONResponse({"detail": self.detail}, status_code=self.status)


def validation_problem(exc: ValidationError, prefix: list[str | int]) -> RequestProblem:
    """Every error pydantic found, each located under `prefix`."""
    refused = RequestProblem(422, [], "", "")
    refused.detail = [
        problem([*prefix, *err["loc"]], err["msg"], err["type"]) for err in exc.errors(include_url=False, include_input=False)
    ]
    return refused


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a RequestProblem naming what is wrong (encoding, syntax, type)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestProblem(422, ["body"], f"request body is not valid UTF-8 (byte {exc.start})", "invalid_encoding") from exc
    try:
        payload: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestProblem(422, ["body"], f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", "json_invalid") from exc
    if not isinstance(payload, dict):
        raise RequestProblem(422, ["body"], f"expected a JSON object, found {type(payload).__name__}", "object_expected")
    return payload


def parse_score_request(raw: bytes, *, max_batch: int, max_chars: int) -> tuple[list[CommentIn], bool, list[bool]]:
    """Decode and validate a request body; returns the comments, whether it was a batch, and which to enqueue if flagged."""
    payload = decode_json_object(raw)
    is_batch = "comments" in payload
    try:
        if is_batch:
            if isinstance(payload["comments"], list) and len(payload["comments"]) > max_batch:
                raise RequestProblem(413, ["body", "comments"], f"batch of {len(payload['comments'])} comments; the limit is {max_batch}", "batch_too_large")
            batch = BatchIn.model_validate(payload)
            comments, enqueue = batch.comments, [batch.enqueue or c.enqueue for c in batch.comments]
        else:
            comments = [CommentIn.model_validate(payload)]
            enqueue = [comments[0].enqueue]
    except ValidationError as exc:
        raise validation_problem(exc, ["body"]) from exc
    for i, comment in enumerate(comments):
        if len(comment.body) > max_chars:
            loc: list[str | int] = ["body", "comments", i, "body"] if is_batch else ["body", "body"]
            raise RequestProblem(422, loc, f"comment is {len(comment.body)} characters; the limit is {max_chars}", "string_too_long")
    return comments, is_batch, enqueue


_REQUEST_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [{"$ref": "#/components/schemas/CommentIn"}, {"$ref": "#/components/schemas/BatchIn"}]}
            }
        },
    }
}


@router.post(
    "/v1/score",
    openapi_extra=_REQUEST_SCHEMA,
    response_model=ScoreOut | BatchOut,
    responses={401: {"model": ErrorOut}, 413: {"model": ErrorOut}, 422: {"model": ErrorOut}, 429: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
async def score(request: Request, scorer: ScorerDep, settings: SettingsDep, client: ClientDep) -> JSONResponse:
    """Score one comment (a comment object) or a batch ({"comments": [...]}, up to 256) with their context.

    With "enqueue": true, comments scored review or reject are stored and queued for moderators. Each result names
    the comment's language and is marked `reliable: false` when it is confidently not English.
    """
    raw = await read_limited(request, settings.max_body_bytes)
    try:
        comments, is_batch, enqueue = parse_score_request(raw, max_batch=settings.max_batch, max_chars=settings.max_comment_chars)
    except RequestProblem as refused:
        return refused.response()
    results = await request.app.state.scoring.score(comments)
    chosen = await request.app.state.thresholds.lookup(client.site, scorer.thresholds)
    results = [apply_thresholds(r, chosen) for r in results]
    request.app.state.metrics.observe_decisions([r.decision.value for r in results], chosen.site)
    if any(enqueue):
        await run_in_threadpool(store_and_queue, request.app.state.sessions, chosen.values, comments, results, enqueue)
    body = BatchOut(results=results).model_dump(mode="json") if is_batch else results[0].model_dump(mode="json")
    # The model that scored these (during a swap it can differ from the one live when the request arrived).
    return JSONResponse(body, headers={MODEL_VERSION: f"{results[0].model.name}/{results[0].model.version}"})


def store_and_queue(sessions, thresholds, comments: list[CommentIn], results: list[ScoreOut], flags: list[bool]) -> None:  # type: ignore[no-untyped-def]
    """Store and queue the flagged comments in one transaction (committed before the response is sent)."""
    with sessions() as session:
        for comment, result, flag in zip(comments, results, flags, strict=True):
            if flag:
                enqueue_comment(session, comment, result, thresholds)
        session.commit()


class BodyTooLarge(Exception):
    """The request body passed the byte limit."""


async def read_limited(request: Request, limit: int) -> bytes:
    """Read the body, refusing more than `limit` bytes without buffering them all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


# Referenced through the OpenAPI components so /docs shows both request shapes.
OPENAPI_MODELS = (CommentIn, BatchIn)
