"""Perspective-compatible endpoints: POST /v1alpha1/comments:analyze, POST /v1alpha1/comments:suggestscore and the
discovery document at GET /$discovery/rest?version=v1alpha1 (see serving.perspective for the mapping)."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from labels.threads import comment_id
from serving.deps import ClientDep, ScorerDep, SettingsDep
from serving.discovery import VERSION, discovery_document
from serving.language import LanguageIdentifier
from serving.observability import MODEL_VERSION
from serving.perspective import (
    SCORE_TYPE,
    AnalyzeCommentRequest,
    PerspectiveError,
    SuggestCommentScoreRequest,
    attribute_values,
    check_languages,
    check_request,
    context_texts,
    sentence_spans,
)
from serving.routes.score import RequestProblem, decode_json_object, read_limited
from serving.schemas import CommentIn
from serving.site_thresholds import apply_thresholds
from threadguard.tables import SuggestedScore

router = APIRouter(tags=["perspective"])
Model = TypeVar("Model", bound=BaseModel)


def _parse(raw: bytes, model: type[Model]) -> Model:
    try:
        payload = decode_json_object(raw)
    except RequestProblem as problem:
        raise PerspectiveError(f"Invalid JSON payload received. {problem}") from problem
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PerspectiveError(f"Invalid value at '{where}': {first['msg']}") from exc


def _language(request: Request) -> LanguageIdentifier:
    return request.app.state.scoring.language


@router.post(f"/{VERSION}/comments:analyze")
async def analyze(request: Request, settings: SettingsDep, client: ClientDep, scorer: ScorerDep) -> JSONResponse:
    """Perspective's AnalyzeComment: attributeScores for the requested attributes (threadguard stores nothing it analyzes).

    Beside Perspective's fields the answer carries `threadguard`: the decision under the site's thresholds (the
    `communityId`'s, else the API key's site's, else the model's) and which thresholds those were. Perspective
    clients ignore fields they do not know.
    """
    raw = await read_limited(request, settings.max_body_bytes)
    try:
        body = _parse(raw, AnalyzeCommentRequest)
        attributes = list(body.requestedAttributes)
        text = check_request(body, attributes)
        for name, params in body.requestedAttributes.items():
            if params is not None and params.scoreType and params.scoreType.upper() != SCORE_TYPE:
                raise PerspectiveError(f"Unsupported scoreType {params.scoreType} for {name}; threadguard returns PROBABILITY")
        guess = _language(request).guess(text)
        languages = check_languages(attributes, body.languages, guess.code, guess.english)
    except PerspectiveError as error:
        return JSONResponse(error.body(), status_code=error.code)
    article, parent = context_texts(body.context)
    spans = sentence_spans(text) if body.spanAnnotations else []
    items = [CommentIn(body=text, article_text=article, parent_body=parent)]
    items += [CommentIn(body=text[begin:end], article_text=article, parent_body=parent) for begin, end in spans]
    results = await request.app.state.scoring.score(items)
    summary = attribute_values(results[0].scores)
    per_span = [attribute_values(r.scores) for r in results[1:]]
    scores: dict[str, Any] = {}
    for name, params in body.requestedAttributes.items():
        threshold = params.scoreThreshold if params is not None else None
        if threshold is not None and summary[name] < threshold:
            continue  # Perspective leaves out attributes under the requested threshold
        entry: dict[str, Any] = {"summaryScore": {"value": round(summary[name], 6), "type": SCORE_TYPE}}
        if body.spanAnnotations:
            entry["spanScores"] = [{"begin": begin, "end": end, "score": {"value": round(values[name], 6), "type": SCORE_TYPE}}
                                   for (begin, end), values in zip(spans, per_span, strict=True)]
        scores[name] = entry
    chosen = await request.app.state.thresholds.lookup(body.communityId or client.site, scorer.thresholds)
    decided = apply_thresholds(results[0], chosen)
    request.app.state.metrics.observe_decisions([decided.decision.value], chosen.site)
    model = results[0].model
    answer: dict[str, Any] = {"attributeScores": scores, "languages": languages, "detectedLanguages": [guess.code],
                              "threadguard": {"decision": decided.decision.value, "thresholds": decided.thresholds.model_dump() if decided.thresholds else None,
                                              "model": model.model_dump()}}
    if body.clientToken is not None:
        answer["clientToken"] = body.clientToken
    return JSONResponse(answer, headers={MODEL_VERSION: f"{model.name}/{model.version}"})


@router.post(f"/{VERSION}/comments:suggestscore")
async def suggest_score(request: Request, settings: SettingsDep, client: ClientDep) -> JSONResponse:
    """Perspective's SuggestCommentScore: each suggested attribute score is kept as a label for the next training run
    (`threadguard labels export --suggestions`), with the forum's communityId."""
    raw = await read_limited(request, settings.max_body_bytes)
    try:
        body = _parse(raw, SuggestCommentScoreRequest)
        text = check_request(body, list(body.attributeScores))
        guess = _language(request).guess(text)
        languages = check_languages(list(body.attributeScores), body.languages, guess.code, guess.english)
    except PerspectiveError as error:
        return JSONResponse(error.body(), status_code=error.code)
    article, parent = context_texts(body.context)
    ident = comment_id(article or "", None, None, text)

    def store() -> None:
        with request.app.state.sessions() as session:
            for attribute, score in body.attributeScores.items():
                session.add(SuggestedScore(comment_id=ident, body=text, article_text=article, parent_body=parent, attribute=attribute,
                                           value=score.summaryScore.value, community_id=body.communityId, client=client.name,
                                           client_token=body.clientToken))
            session.commit()

    await run_in_threadpool(store)
    answer: dict[str, Any] = {"detectedLanguages": [guess.code], "requestedLanguages": languages}
    if body.clientToken is not None:
        answer["clientToken"] = body.clientToken
    return JSONResponse(answer)


@router.get("/$discovery/rest", include_in_schema=False)
def discovery(request: Request, version: str = VERSION) -> JSONResponse:
    """The discovery document Perspective's Python client is built from, rooted at this service."""
    if version != VERSION:
        error = PerspectiveError(f"Requested entity was not found: commentanalyzer {version}", code=404, status="NOT_FOUND", error_type="NOT_FOUND")
        return JSONResponse(error.body(), status_code=404)
    return JSONResponse(discovery_document(str(request.base_url)))
