"""Request dependencies: settings, the scorer, a database session, the API-key check; Annotated aliases for routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from serving.key_cache import ANONYMOUS, Caller, KeyState
from serving.model import Scorer
from serving.problems import problem_exception
from serving.rate_limit import retry_after_header
from threadguard.settings import Settings


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (create_app's argument, not a global)."""
    return request.app.state.settings


def get_scorer(request: Request) -> Scorer:
    """The loaded model; 503 until the lifespan has loaded it."""
    scorer = request.app.state.models.live
    if scorer is None:
        raise problem_exception(503, ["model"], "model not loaded yet", "not_ready")
    return scorer


def db_session(request: Request) -> Iterator[Session]:
    """One session per request; routes commit what they change."""
    with request.app.state.sessions() as session:
        yield session


async def api_client(request: Request) -> Caller:
    """The calling API key, after its rate limit. While no key exists the API is open and the caller is "anonymous".

    The key comes as `Authorization: Bearer KEY` or, as Perspective clients send it, as the `key` query parameter.
    Valid keys are cached (serving.key_cache), so a busy service asks the database only on a miss; the lookup never
    holds a pooled connection while the comment waits for scoring (under load the pool would run dry).
    """
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if not header and request.query_params.get("key"):
        scheme, key = "bearer", request.query_params["key"]
    given = key.strip() if scheme.lower() == "bearer" and key.strip() else None
    book = request.app.state.keys
    state = book.peek(given) or await run_in_threadpool(book.load, given)
    caller = _check(state, given)
    wait = request.app.state.rate_limiter.take(caller.name)
    if wait > 0:
        request.app.state.metrics.rate_limited.labels(caller.name).inc()
        limit = request.app.state.rate_limiter.capacity
        raise problem_exception(429, ["header", "authorization"],
                                f"rate limit of {limit:.0f} requests a minute for {caller.name!r}; retry after {wait:.1f} s", "rate_limited",
                                headers={"Retry-After": retry_after_header(wait)})
    return caller


def _check(state: KeyState, given: str | None) -> Caller:
    if not state.any_keys:
        return ANONYMOUS
    if given is None:
        raise problem_exception(401, ["header", "authorization"], "an API key is required: Authorization: Bearer KEY or ?key=KEY",
                                "missing_api_key", headers={"WWW-Authenticate": "Bearer"})
    if state.caller is None:
        raise problem_exception(401, ["header", "authorization"], "unknown or revoked API key", "invalid_api_key",
                                headers={"WWW-Authenticate": "Bearer"})
    return state.caller


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]
DbDep = Annotated[Session, Depends(db_session)]
ClientDep = Annotated[Caller, Depends(api_client)]
