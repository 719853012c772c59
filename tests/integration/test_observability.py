"""/metrics, request ids and the model version header, through the real app."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from fastapi.testclient import TestClient

from serving.api import create_app
from threadguard.log import _JsonFormatter
from threadguard.settings import Settings


def _sample(text: str, name: str, default: float | None = None, **labels: str) -> float:
    """The value of one sample of the Prometheus text format, matched by name and label set (in any order)."""
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if metric == name and found == labels:
            return float(value)
    if default is not None:  # a labelled counter appears only once it has been incremented
        return default
    raise AssertionError(f"{name}{labels} not in /metrics")


def test_metrics_count_requests_batches_scores_decisions_model_and_queue(tiny_model_dir: Path, tmp_path: Path) -> None:
    settings = Settings(model_dir=tiny_model_dir, database_url=f"sqlite:///{tmp_path / 'm.db'}", device="cpu")
    with TestClient(create_app(settings)) as client:
        batch = {"comments": [{"body": "you are an idiot"}, {"body": "good point"}, {"body": "thanks"}], "enqueue": True}
        results = client.post("/v1/score", json=batch).json()["results"]
        one = client.post("/v1/score", json={"body": "x"}).json()["decision"]
        client.post("/v1/score", json={"body": ""})  # a 422
        text = client.get("/metrics").text
    assert _sample(text, "threadguard_requests_total", route="/v1/score", method="POST", status="200") == 2
    assert _sample(text, "threadguard_requests_total", route="/v1/score", method="POST", status="422") == 1
    assert _sample(text, "threadguard_score_batch_size_count") == 2 and _sample(text, "threadguard_score_batch_size_sum") == 4
    assert _sample(text, "threadguard_score_count", label="insult") == 4
    decided = {d: sum(r["decision"] == d for r in results) for d in ("allow", "review", "reject")}
    assert {d: _sample(text, "threadguard_decisions_total", 0.0, decision=d, site="") for d in decided} == {d: decided[d] + (d == one) for d in decided}
    name = results[0]["model"]["name"]
    assert f'threadguard_model_info{{name="{name}"' in text
    assert _sample(text, "threadguard_queue_items", status="pending") == decided["review"] + decided["reject"]


def test_request_id_is_echoed_or_made_and_scoring_names_the_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    settings = Settings(model_dir=tiny_model_dir, database_url=f"sqlite:///{tmp_path / 'r.db'}", device="cpu")
    with TestClient(create_app(settings)) as client:
        given = client.post("/v1/score", json={"body": "hi"}, headers={"X-Request-ID": "forum-123"})
        made = client.get("/healthz")
        hostile = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert given.headers["X-Request-ID"] == "forum-123"
    assert given.headers["X-Model-Version"] == f"{given.json()['model']['name']}/{given.json()['model']['version']}"
    assert len(made.headers["X-Request-ID"]) == 32 and "X-Model-Version" not in made.headers
    assert hostile.headers["X-Request-ID"] != "bad id\nwith newline"


def test_refused_and_failed_requests_carry_an_id_and_are_counted(tiny_model_dir: Path, tmp_path: Path) -> None:
    # A body refused by its declared length never reaches a route, and a route that raises never answers: both are
    # requests a forum may need to trace and an operator to count.
    settings = Settings(model_dir=tiny_model_dir, database_url=f"sqlite:///{tmp_path / 'f.db'}", device="cpu", max_body_bytes=1000)
    app = create_app(settings)

    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        refused = client.post("/v1/score", json={"body": "x" * 5000}, headers={"X-Request-ID": "forum-413"})
        failed = client.get("/v1/boom")
        text = client.get("/metrics").text
    assert refused.status_code == 413 and refused.headers["X-Request-ID"] == "forum-413"
    assert failed.status_code == 500 and failed.headers["X-Request-ID"] in failed.json()["detail"][0]["msg"]
    assert _sample(text, "threadguard_requests_total", route="/v1/boom", method="GET", status="500") == 1
    assert _sample(text, "threadguard_request_seconds_count", route="/v1/boom") == 1
    # refused before routing: counted, under no route's name
    assert _sample(text, "threadguard_requests_total", route="unmatched", method="POST", status="413") == 1


def test_json_access_log_carries_the_request_id() -> None:
    record = logging.LogRecord("threadguard.access", logging.INFO, __file__, 1, "GET /x 200", (), None)
    record.request_id, record.status = "abc", 200
    line = json.loads(_JsonFormatter().format(record))
    assert line["request_id"] == "abc" and line["status"] == 200 and line["message"] == "GET /x 200"
