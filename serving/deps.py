"""Request dependencies: settings, the scorer, a database session, the API-key check; Annotated aliases for routes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from serving.accounts import any_api_keys, check_api_key
from serving.model import Scorer
from serving.rate_limit import retry_after_header
from threadguard.settings import Settings


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (create_app's argument, not a global)."""
    return request.app.state.settings


def get_scorer(request: Request) -> Scorer:
    """The loaded model; 503 until the lifespan has loaded it."""
    scorer = request.app.state.models.live
    if scorer is None:
        raise HTTPException(status_code=503, detail=[{"loc": ["model"], "msg": "model not loaded yet", "type": "not_ready"}])
    return scorer


def db_session(request: Request) -> Iterator[Session]:
    """One session per request; routes commit what they change."""
    with request.app.state.sessions() as session:
        yield session


@dataclass(frozen=True)
class Caller:
    """Who is calling the API: the key's name ("anonymous" while no key exists) and the site whose thresholds apply."""

    name: str
    site: str | None = None


def api_client(request: Request) -> Caller:
    """The calling API key, after its rate limit. While no key exists the API is open and the caller is "anonymous".

    The key comes as `Authorization: Bearer KEY` or, as Perspective clients send it, as the `key` query parameter.
    The lookup has its own short session: a request-long one would hold a pooled connection while the comment waits
    for scoring, and under load the pool would run dry (requests then failed after the pool's 30 s timeout).
    """
    with request.app.state.sessions() as session:
        caller = _authenticate(request, session)
    name = caller.name
    wait = request.app.state.rate_limiter.take(name)
    if wait > 0:
        request.app.state.metrics.rate_limited.labels(name).inc()
        limit = request.app.state.rate_limiter.capacity
        raise HTTPException(status_code=429, detail=[{"loc": ["header", "authorization"], "msg": f"rate limit of {limit:.0f} requests a minute for {name!r}; retry after {wait:.1f} s",
                                                      "type": "rate_limited"}], headers={"Retry-After": retry_after_header(wait)})
    return caller


def _authenticate(request: Request, session: Session) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if not any_api_keys(session):
        return Caller("anonymous")
    if not header and request.query_params.get("key"):
        scheme, key = "bearer", request.query_params["key"]
    if scheme.lower() != "bearer" or not key.strip():
        raise HTTPException(status_code=401, detail=[{"loc": ["header", "authorization"], "msg": "an API key is required: Authorization: Bearer KEY or ?key=KEY",
                                                      "type": "missing_api_key"}],
                            headers={"WWW-Authenticate": "Bearer"})
    row = check_api_key(session, key.strip())
    if row is None:
        raise HTTPException(status_code=401, detail=[{"loc": ["header", "authorization"], "msg": "unknown or revoked API key", "type": "invalid_api_key"}],
                            headers={"WWW-Authenticate": "Bearer"})
    return Caller(row.name, row.site)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]
DbDep = Annotated[Session, Depends(db_session)]
ClientDep = Annotated[Caller, Depends(api_client)]
