"""create_app(settings): lifespan, error handlers, routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from itsdangerous import URLSafeTimedSerializer
from pydantic.json_schema import models_json_schema
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving import observability
from serving.accounts import SESSION_SECRET, SETUP_TOKEN, any_api_keys, count_users, shared_secret
from serving.model import Scorer, open_scorer
from serving.observability import ServiceMetrics
from serving.queue import NotFound
from serving.routes import health, pages, reports, score
from serving.web import LoginRequired
from threadguard import __version__
from threadguard.db import make_engine, session_factory, upgrade_schema
from threadguard.errors import ThreadguardError, UsageError
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
        upgrade_schema(engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        scorer = scorer_factory(settings)
        with app.state.sessions() as session:
            app.state.session_signer = URLSafeTimedSerializer(shared_secret(session, SESSION_SECRET), salt="tg-session")
            _announce_access(session, settings)
            _record_activation(session, scorer)
            session.commit()
        app.state.scorer = scorer
        app.state.metrics.model.labels(scorer.name, scorer.version).set(1)
        retention = asyncio.create_task(_retention_loop(app.state.sessions, settings))
        log.info("ready: model %s on %s", scorer.name, scorer.device)
        yield
        retention.cancel()
        app.state.scorer = None
        engine.dispose()

    app = FastAPI(title="threadguard", version=__version__, lifespan=lifespan, description="Scores comments for hate, insult and off_topic.")
    app.state.settings = settings
    app.state.scorer = None
    app.state.metrics = ServiceMetrics()
    observability.install(app)
    app.include_router(health.router)
    app.include_router(score.router)
    app.include_router(reports.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).resolve().parent / "static")), name="static")
    _install_error_handlers(app)
    _add_request_schemas(app)
    return app


async def _retention_loop(sessions, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    """Erase comment text past the retention period at start-up and then every retention_check_seconds."""
    from fastapi.concurrency import run_in_threadpool

    from serving.privacy import erase_expired

    def sweep() -> int:
        with sessions() as session:
            return erase_expired(session, retention_days=settings.retention_days)

    while True:
        try:
            erased = await run_in_threadpool(sweep)
            if erased:
                log.info("retention: erased the text of %d comments older than %d days", erased, settings.retention_days)
        except Exception:  # a failed sweep (database briefly down) must not stop the service; the next one retries
            log.exception("retention sweep failed")
        await asyncio.sleep(settings.retention_check_seconds)


def _announce_access(session: Session, settings: Settings) -> None:
    """Log the one-time setup link on a fresh install, and warn while the scoring API needs no key."""
    if count_users(session) == 0:
        token = shared_secret(session, SETUP_TOKEN)
        log.warning("no moderator accounts yet: create the first admin at http://%s:%d/setup?token=%s", settings.host, settings.port, token)
    if not any_api_keys(session):
        log.warning("no API keys exist, so the scoring API answers without one; create one with: threadguard keys create --name NAME")


def _record_activation(session: Session, scorer: Scorer) -> None:
    session.add(ModelActivation(model_name=scorer.name, model_version=scorer.version, model_path=str(scorer.model_dir.path)))


def _install_error_handlers(app: FastAPI) -> None:
    def too_large() -> JSONResponse:
        limit = app.state.settings.max_body_bytes
        return JSONResponse({"detail": [{"loc": ["body"], "msg": f"request body over {limit} bytes", "type": "body_too_large"}]}, status_code=413)

    @app.exception_handler(score.BodyTooLarge)
    async def _too_large(_request: Request, exc: score.BodyTooLarge) -> JSONResponse:
        return too_large()

    @app.middleware("http")
    async def _declared_body_limit(request: Request, call_next):  # type: ignore[no-untyped-def]
        # Every route (reports, page forms and uploads, not only /v1/score) refuses a body declared over the limit
        # before reading it; /v1/score also counts the bytes of bodies sent without a Content-Length.
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > app.state.settings.max_body_bytes:
            return too_large()
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, list) else [{"loc": [], "msg": str(exc.detail), "type": "http_error"}]
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": [], "msg": str(exc), "type": "not_found"}]}, status_code=404)

    @app.exception_handler(UsageError)
    async def _usage(_request: Request, exc: UsageError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["body"], "msg": str(exc), "type": "invalid"}]}, status_code=422)

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
