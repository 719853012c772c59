"""create_app(settings): lifespan, error handlers, routers."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from itsdangerous import URLSafeTimedSerializer
from pydantic.json_schema import models_json_schema
from sqlalchemy.orm import Session
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from serving import observability
from serving.accounts import SESSION_SECRET, SETUP_TOKEN, any_api_keys, count_users, shared_secret
from serving.key_cache import KeyBook
from serving.language import LanguageIdentifier
from serving.live_models import ModelSlots, ModelWatcher
from serving.model import Scorer, open_scorer, warmed
from serving.observability import ServiceMetrics
from serving.perspective import PerspectiveError
from serving.problems import problem, problem_response
from serving.queue import NotFound
from serving.rate_limit import RateLimiter
from serving.routes import coral, health, pages, perspective, reports, score
from serving.service import ModelNotReady, ScoringService
from serving.site_thresholds import ThresholdBook
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
    return open_scorer(settings.model_dir, device=settings.device, runtime=settings.runtime, threads=settings.inference_threads,
                       int8_precision=settings.int8_precision,
                       read_whole_comments=settings.read_whole_comments)


def create_app(settings: Settings, *, scorer_factory: ScorerFactory = default_scorer_factory) -> FastAPI:
    """Build the service; the lifespan opens the database and the model once onto app.state.

    The model served is the database's newest live assignment (`threadguard models activate`) when there is
    one, else the settings' model dir; a watcher keeps it, and the shadow model, in step with the database.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        upgrade_schema(engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        slots: ModelSlots = app.state.models
        # Warmed before /readyz answers, as a swapped-in model is: the first request would otherwise pay ONNX Runtime's
        # first run and spelling repair's word list (about 0.4 s, over Coral's 500 ms budget on a busy machine), and a
        # dir whose weights load but cannot score would fail on a request instead of at start-up.
        slots.live = await run_in_threadpool(lambda: warmed(scorer_factory(settings)))
        with app.state.sessions() as session:
            app.state.session_signer = URLSafeTimedSerializer(shared_secret(session, SESSION_SECRET), salt="tg-session")
            _announce_access(session, settings)
            session.commit()
        metrics: ServiceMetrics = app.state.metrics
        metrics.show_model("live", None, slots.live)

        def load(path: Path) -> Scorer:
            return scorer_factory(settings.model_copy(update={"model_dir": path}))

        def swapped(role: str, old: Scorer | None, new: Scorer | None) -> None:
            metrics.show_model(role, old, new)
            if role == "live" and new is not None and hasattr(app.state, "watcher"):
                _record_activation(app.state.sessions, new)

        watcher = ModelWatcher(slots, app.state.sessions, load, poll_seconds=settings.model_poll_seconds, on_swap=swapped,
                               on_failure=lambda role, _a, _e: metrics.load_failures.labels(role).inc())
        await watcher.check()  # serve the assigned model from the first request, not after the first poll
        _record_activation(app.state.sessions, slots.live)
        app.state.watcher = watcher
        app.state.thresholds = ThresholdBook(app.state.sessions, ttl=settings.site_thresholds_seconds)
        app.state.keys = KeyBook(app.state.sessions, ttl=settings.api_key_cache_seconds)
        language = LanguageIdentifier(settings.language_min_confidence)
        await run_in_threadpool(language.guess, "warm-up")  # load its model (about 1 s) before the first request, not during it
        scoring = ScoringService(slots, settings, metrics, language)
        await scoring.start()
        app.state.scoring = scoring
        tasks = [asyncio.create_task(_retention_loop(app.state.sessions, settings)), asyncio.create_task(watcher.run())]
        _on_sighup(watcher.wake)
        log.info("ready: model %s on %s", slots.live.name, slots.live.device)
        yield
        for task in tasks:
            task.cancel()
        await scoring.stop()
        slots.live = slots.shadow = None
        engine.dispose()

    app = FastAPI(title="threadguard", version=__version__, lifespan=lifespan, description="Scores comments for hate, insult and off_topic.")
    app.state.settings = settings
    app.state.models = ModelSlots()
    app.state.metrics = ServiceMetrics()
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.include_router(health.router)
    app.include_router(score.router)
    app.include_router(reports.router)
    app.include_router(perspective.router)
    app.include_router(coral.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).resolve().parent / "static")), name="static")
    _install_error_handlers(app)
    observability.install(app)  # last: its middleware runs first, so a refused body's 413 has a request id too
    _add_request_schemas(app)
    return app


def _on_sighup(wake: Callable[[], None]) -> None:
    """SIGHUP makes the watcher check the database at once instead of at its next poll."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, wake)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests' in-process client), or no SIGHUP
        log.debug("SIGHUP handler not installed")


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


def _record_activation(sessions, scorer: Scorer) -> None:  # type: ignore[no-untyped-def]
    """Log in the database which model this process started answering with, and when."""
    with sessions() as session:
        session.add(ModelActivation(model_name=scorer.name, model_version=scorer.version, model_path=str(scorer.model_dir.path)))
        session.commit()


def _install_error_handlers(app: FastAPI) -> None:
    def too_large(request: Request) -> JSONResponse:
        message = f"request body over {app.state.settings.max_body_bytes} bytes"
        if _is_perspective(request):
            return _perspective_error(413, message)
        return problem_response(413, ["body"], message, "body_too_large")

    @app.exception_handler(score.BodyTooLarge)
    async def _too_large(request: Request, exc: score.BodyTooLarge) -> JSONResponse:
        return too_large(request)

    app.add_middleware(DeclaredBodyLimit, refuse=too_large)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [problem(e["loc"], e["msg"], e["type"]) for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, list) else [problem([], str(exc.detail), "http_error")]
        if _is_perspective(request):  # Perspective clients read errors as {"error": {code, message, status}}
            error = _perspective_error(exc.status_code, "; ".join(d["msg"] for d in detail))
            error.headers.update(getattr(exc, "headers", None) or {})
            return error
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return problem_response(404, [], str(exc), "not_found")

    @app.exception_handler(UsageError)
    async def _usage(_request: Request, exc: UsageError) -> JSONResponse:
        return problem_response(422, ["body"], str(exc), "invalid")

    @app.exception_handler(ModelNotReady)
    async def _not_ready(_request: Request, exc: ModelNotReady) -> JSONResponse:
        return problem_response(503, ["model"], str(exc), "not_ready")

    @app.exception_handler(ThreadguardError)
    async def _domain(_request: Request, exc: ThreadguardError) -> JSONResponse:
        return problem_response(503, [], str(exc), type(exc).__name__)


_GRPC_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 405: "INVALID_ARGUMENT",
                413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}


class DeclaredBodyLimit:
    """Pure ASGI middleware: every route (reports, page forms and uploads, not only /v1/score) refuses a body declared
    over the limit before reading it; /v1/score also counts the bytes of bodies sent without a Content-Length."""

    def __init__(self, app: ASGIApp, refuse: Callable[[Request], Response]) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > scope["app"].state.settings.max_body_bytes:
                await self.refuse(Request(scope))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _is_perspective(request: Request) -> bool:
    return request.url.path.startswith("/v1alpha1/")


def _perspective_error(status: int, message: str) -> JSONResponse:
    error = PerspectiveError(message, code=status, status=_GRPC_STATUS.get(status, "UNKNOWN"), error_type=_GRPC_STATUS.get(status, "UNKNOWN"))
    return JSONResponse(error.body(), status_code=status)


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
