"""create_app(settings): lifespan, error handlers, routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from sqlalchemy.orm import Session

from serving.model import Scorer, open_scorer
from serving.routes import health, score
from threadguard import __version__
from threadguard.db import create_schema, make_engine, session_factory
from threadguard.errors import ThreadguardError
from threadguard.settings import Settings
from threadguard.tables import ModelActivation

log = logging.getLogger(__name__)

ScorerFactory = Callable[[Settings], Scorer]


def default_scorer_factory(settings: Settings) -> Scorer:
    """Open the model dir named by the settings."""
    return open_scorer(settings.model_dir, device=settings.device)


def create_app(settings: Settings, *, scorer_factory: ScorerFactory = default_scorer_factory) -> FastAPI:
    """Build the service; the lifespan opens the database and the model once onto app.state."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        create_schema(engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        scorer = scorer_factory(settings)
        with app.state.sessions() as session, session.begin():
            _record_activation(session, scorer)
        app.state.scorer = scorer
        log.info("ready: model %s on %s", scorer.name, scorer.device)
        yield
        app.state.scorer = None
        engine.dispose()

    app = FastAPI(title="threadguard", version=__version__, lifespan=lifespan, description="Scores comments for hate, insult and off_topic.")
    app.state.settings = settings
    app.state.scorer = None
    app.include_router(health.router)
    app.include_router(score.router)
    _install_error_handlers(app)
    _add_request_schemas(app)
    return app


def _record_activation(session: Session, scorer: Scorer) -> None:
    session.add(ModelActivation(model_name=scorer.name, model_version=scorer.version, model_path=str(scorer.model_dir.path)))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(score.BodyTooLarge)
    async def _too_large(_request: Request, exc: score.BodyTooLarge) -> JSONResponse:
        limit = app.state.settings.max_body_bytes
        return JSONResponse({"detail": [{"loc": ["body"], "msg": f"request body over {limit} bytes", "type": "body_too_large"}]}, status_code=413)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, list) else [{"loc": [], "msg": str(exc.detail), "type": "http_error"}]
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(ThreadguardError)
    async def _domain(_request: Request, exc: ThreadguardError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": [], "msg": str(exc), "type": type(exc).__name__}]}, status_code=503)


def _add_request_schemas(app: FastAPI) -> None:
    """Put CommentIn and BatchIn into the OpenAPI components that /v1/score's request body refers to."""
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        _, defs = models_json_schema([(m, "validation") for m in score.OPENAPI_MODELS], ref_template="#/components/schemas/{model}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
