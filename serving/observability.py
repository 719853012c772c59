"""Operations: Prometheus metrics on a per-app registry, a request id on every request and response, access logs.

`/metrics` exposes requests by route and status, request latency, scoring batch sizes, scores and decisions
per label, the model being served and the moderation queue depth (read from the database at scrape time).
Each request gets an id (the caller's X-Request-ID if it sent a sane one), echoed in the response header and
in the access log line, so a forum's logs and ours can be joined.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Sequence

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from labels.schema import LABELS
from serving.problems import problem_response
from serving.schemas import ScoreOut

log = logging.getLogger("threadguard.access")
REQUEST_ID = "X-Request-ID"
MODEL_VERSION = "X-Model-Version"
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


class ServiceMetrics:
    """The service's Prometheus metrics on their own registry (one per app, so tests and apps never share counters)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("threadguard_requests", "HTTP requests", ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("threadguard_request_seconds", "HTTP request latency", ["route"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self.batch = Histogram("threadguard_score_batch_size", "comments per scored pool (dynamic batching)", registry=self.registry,
                               buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.scores = Histogram("threadguard_score", "scores per label", ["label"], registry=self.registry,
                                buckets=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95))
        self.flagged = Counter("threadguard_label_flagged", "comments at or over a label's review threshold", ["label"], registry=self.registry)
        # Counted where the answer is made, under the thresholds that made it (a site's own where it has them).
        self.decisions = Counter("threadguard_decisions", "decisions answered, by the site whose thresholds decided (\"\" = the model's)",
                                 ["decision", "site"], registry=self.registry)
        self.model = Gauge("threadguard_model_info", "the model being served", ["name", "version"], registry=self.registry)
        self.queue = Gauge("threadguard_queue_items", "moderation queue items", ["status"], registry=self.registry)
        self.swaps = Counter("threadguard_model_swaps", "model swaps", ["role"], registry=self.registry)
        self.load_failures = Counter("threadguard_model_load_failures", "assigned models refused (broken dir)", ["role"], registry=self.registry)
        self.shadow_model = Gauge("threadguard_shadow_model_info", "the model running in shadow", ["name", "version"], registry=self.registry)
        self.shadow_compared = Counter("threadguard_shadow_comparisons", "comments scored by the shadow model", ["agree"], registry=self.registry)
        self.shadow_agreement = Gauge("threadguard_shadow_agreement", "share of comments where the shadow model's decision equals the live one",
                                      ["name", "version"], registry=self.registry)
        self.shadow_skipped = Counter("threadguard_shadow_skipped", "comments not shadow-scored because the backlog was full", registry=self.registry)
        self.rate_limited = Counter("threadguard_rate_limited", "requests refused with 429", ["client"], registry=self.registry)
        self.unreliable = Counter("threadguard_unreliable_language", "comments marked not reliably scored, by language", ["language"],
                                  registry=self.registry)
        self._agreed = self._compared = 0
        for role in ("live", "shadow"):  # exported as 0 from the start, so alerts on increase() see the first one
            self.swaps.labels(role)
            self.load_failures.labels(role)

    def show_model(self, role: str, old, new) -> None:  # type: ignore[no-untyped-def]
        """Point the model-info gauges at the new live or shadow model."""
        gauge = self.model if role == "live" else self.shadow_model
        if old is not None:
            gauge.remove(old.name, old.version)
        if new is not None:
            gauge.labels(new.name, new.version).set(1)
        if role == "shadow":
            self._agreed = self._compared = 0
            if old is not None:
                self.shadow_agreement.remove(old.name, old.version)
        if old is not None:
            self.swaps.labels(role).inc()

    def observe_shadow(self, shadow, agreed: int, compared: int) -> None:  # type: ignore[no-untyped-def]
        self.shadow_compared.labels("true").inc(agreed)
        self.shadow_compared.labels("false").inc(compared - agreed)
        self._agreed += agreed
        self._compared += compared
        self.shadow_agreement.labels(shadow.name, shadow.version).set(self._agreed / self._compared)

    def observe_scores(self, results: Sequence[ScoreOut], review: dict[str, float]) -> None:
        for result in results:
            if not result.reliable and result.language is not None:
                self.unreliable.labels(result.language.code).inc()
            for label in LABELS:
                value = result.scores[label.value]
                self.scores.labels(label.value).observe(value)
                if value >= review[label.value]:
                    self.flagged.labels(label.value).inc()

    def observe_decisions(self, decisions: Sequence[str], site: str | None) -> None:
        for decision in decisions:
            self.decisions.labels(str(decision), site or "").inc()


class RequestObserver:
    """Pure ASGI middleware: a request id on every request and response, the model version on /v1/ answers, request
    metrics and the access log line.

    Not `@app.middleware("http")`: Starlette's BaseHTTPMiddleware runs each request's app in a task of its own and
    streams the response back through a memory channel: the two such layers took about a tenth of the event loop's time
    under load, and one-comment requests at concurrency 32 gained 11-22 % without them (docs/benchmarks.md, "load").
    Here the response's first message gets the headers on its way out.
    """

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID, "")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        answered = False
        slots = scope["app"].state.models  # read before routing: a mounted app would put itself in the scope

        async def send_with_headers(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                status, answered = message["status"], True
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID] = request_id
                scorer = slots.live
                if scorer is not None and _route_path(scope).startswith("/v1/") and MODEL_VERSION not in headers:
                    headers[MODEL_VERSION] = f"{scorer.name}/{scorer.version}"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not answered:
                # Answered here, not by Starlette's outermost handler, which sits outside this middleware: the caller gets
                # the request id to quote, in the JSON shape of every other error. Re-raised, so the server logs the traceback.
                error = problem_response(500, [], f"internal error; quote request id {request_id}", "internal_error")
                await error(scope, receive, send_with_headers)
            raise
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    def _record(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        path, method = _route_path(scope), scope["method"]
        self.metrics.requests.labels(path, method, str(status)).inc()
        self.metrics.latency.labels(path).observe(seconds)
        ms = round(seconds * 1000, 1)
        log.info("%s %s %d %.1f ms request_id=%s", method, scope["path"], status, ms, request_id,
                 extra={"request_id": request_id, "method": method, "path": scope["path"], "status": status, "ms": ms})


def _route_path(scope: Scope) -> str:
    """The matched route's template ("/v1/models/{name}"), so metrics do not get a label per id; "unmatched" for a 404."""
    return getattr(scope.get("route"), "path", "unmatched")


def install(app: FastAPI) -> None:
    """Add the request-id/metrics middleware and the /metrics route. Call it after every other middleware is added:
    the last added runs first, so every answer, a refused one included, gets a request id and is counted."""
    metrics: ServiceMetrics = app.state.metrics
    app.add_middleware(RequestObserver, metrics=metrics)

    @app.get("/metrics", include_in_schema=False)
    def prometheus(request: Request) -> Response:
        from threadguard.tables import QueueItem

        with request.app.state.sessions() as session:
            rows = session.execute(select(QueueItem.status, func.count()).group_by(QueueItem.status)).all()
        for status in ("pending", "reported", "decided"):
            metrics.queue.labels(status).set(dict(rows).get(status, 0))
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
