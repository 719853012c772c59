"""POST /v1/score, health endpoints and every bad-input case: 4xx with a JSON body naming the problem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from serving.api import create_app
from threadguard.settings import Settings


@pytest.fixture(scope="module")
def client(tiny_model_dir: Path, module_db_url: str) -> Iterator[TestClient]:
    settings = Settings(model_dir=tiny_model_dir, database_url=module_db_url, device="cpu")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_single_comment_gets_one_result(client: TestClient, tiny_scorer) -> None:
    response = client.post("/v1/score", json={"id": "c1", "body": "you are an idiot, honestly", "article_title": "Trade talks", "parent_body": None})
    assert response.status_code == 200
    result = response.json()
    assert set(result) == {"id", "scores", "decision", "model", "language", "reliable", "thresholds", "judged"}
    assert result["judged"] == ["hate", "insult", "off_topic"]  # it came with its article
    assert result["language"]["code"] == "en" and result["reliable"] is True and result["thresholds"] == {"site": None, "overridden": []}
    assert result["id"] == "c1" and set(result["scores"]) == {"hate", "insult", "off_topic"}
    assert all(0.0 <= v <= 1.0 for v in result["scores"].values())
    assert result["decision"] in {"allow", "review", "reject"}
    assert result["model"] == {"name": tiny_scorer.name, "version": tiny_scorer.version}
    assert result["scores"]["insult"] > 0.5


def test_batch_keeps_input_order_and_absent_context(client: TestClient) -> None:
    comments = [{"id": f"c{i}", "body": body} for i, body in enumerate(["you dope, read the article really", "good point, thanks for sharing", "those people are subhuman animals now"])]
    response = client.post("/v1/score", json={"comments": comments})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["c0", "c1", "c2"]
    assert results[1]["scores"]["insult"] < results[0]["scores"]["insult"]
    assert results[2]["scores"]["hate"] > results[1]["scores"]["hate"]
    assert all(r["judged"] == ["hate", "insult"] for r in results)  # no article: off_topic is scored but does not decide


def test_comment_without_id_gets_a_stable_one(client: TestClient) -> None:
    first = client.post("/v1/score", json={"body": "hello there"}).json()["id"]
    assert first and first == client.post("/v1/score", json={"body": "hello there"}).json()["id"]


def test_health_ready_openapi_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    schema = client.get("/openapi.json").json()
    assert "/v1/score" in schema["paths"] and {"CommentIn", "BatchIn"} <= set(schema["components"]["schemas"])
    assert client.get("/docs").status_code == 200


def test_service_creates_its_schema_and_records_the_model(client: TestClient, module_db_url: str) -> None:
    engine = create_engine(module_db_url)
    with engine.connect() as conn:
        names = conn.execute(text("select model_name from model_activations")).scalars().all()
    engine.dispose()
    assert names, "the service records which model it serves"


def _detail(response) -> list[dict]:
    body = response.json()
    assert isinstance(body["detail"], list) and body["detail"], body
    return body["detail"]


@pytest.mark.parametrize(
    ("kwargs", "status", "loc", "fragment"),
    [
        ({"content": b'{"body": "x"', "headers": {"content-type": "application/json"}}, 422, ["body"], "malformed JSON"),
        ({"json": ["hello"]}, 422, ["body"], "expected a JSON object"),
        ({"data": {"body": "hello"}}, 422, ["body"], "malformed JSON"),
        ({"json": {"article_title": "x"}}, 422, ["body", "body"], "Field required"),
        ({"json": {"body": None}}, 422, ["body", "body"], "valid string"),
        ({"json": {"body": 12}}, 422, ["body", "body"], "valid string"),
        ({"json": {"body": "ok", "parent_body": 3}}, 422, ["body", "parent_body"], "valid string"),
        ({"json": {"body": "ok", "unknown": 1}}, 422, ["body", "unknown"], "Extra inputs"),
        ({"content": b'{"body": "caf\xe9"}', "headers": {"content-type": "application/json"}}, 422, ["body"], "not valid UTF-8"),
        ({"json": {"comments": []}}, 422, ["body", "comments"], "at least 1"),
        ({"json": {"comments": "nope"}}, 422, ["body", "comments"], "valid list"),
        ({"json": {"comments": [{"body": "ok"}, {"body": None}]}}, 422, ["body", "comments", 1, "body"], "valid string"),
        ({"json": {"comments": [{"body": "x"}] * 257}}, 413, ["body", "comments"], "limit is 256"),
        ({"json": {"body": "x" * 20_001}}, 422, ["body", "body"], "limit is 20000"),
        ({"json": {"comments": [{"body": "ok"}, {"body": "y" * 20_001}]}}, 422, ["body", "comments", 1, "body"], "limit is 20000"),
        ({"json": {"body": "x" * 1_100_000}}, 413, ["body"], "over 1000000 bytes"),
    ],
    ids=["malformed-json", "array", "form-post", "missing-body", "null-body", "wrong-type", "wrong-context-type", "extra-field", "non-utf8",
         "empty-batch", "batch-not-list", "null-body-in-batch", "batch-too-large", "comment-too-long", "batch-comment-too-long", "body-over-1mb"],
)
def test_bad_input_gets_4xx_naming_the_problem(client: TestClient, kwargs: dict, status: int, loc: list, fragment: str) -> None:
    response = client.post("/v1/score", **kwargs)
    assert response.status_code == status, response.text
    detail = _detail(response)
    assert detail[0]["loc"] == loc
    assert fragment in detail[0]["msg"]


def test_wrong_method_and_unknown_path_are_json_4xx(client: TestClient) -> None:
    assert client.get("/v1/score").status_code == 405
    missing = client.get("/nope")
    assert missing.status_code == 404 and _detail(missing)


def test_not_ready_until_model_loaded(tiny_model_dir: Path, module_db_url: str) -> None:
    app = create_app(Settings(model_dir=tiny_model_dir, database_url=module_db_url))
    client = TestClient(app)  # no context manager: the lifespan has not run, the model is not loaded
    assert client.get("/readyz").status_code == 503
    response = client.post("/v1/score", json={"body": "x"})
    assert response.status_code == 503 and _detail(response)


def test_every_route_refuses_a_body_over_the_limit(tiny_model_dir: Path, tmp_path: Path) -> None:
    settings = Settings(model_dir=tiny_model_dir, database_url=f"sqlite:///{tmp_path / 'limit.db'}", device="cpu", max_body_bytes=1000)
    with TestClient(create_app(settings)) as small:
        big = {"comment": {"body": "x" * 5000}}
        response = small.post("/v1/reports", json=big)
        assert response.status_code == 413 and _detail(response)[0]["loc"] == ["body"]
        assert small.post("/login", data={"name": "a" * 5000, "password": "p"}).status_code == 413
        assert small.post("/v1/reports", json={"comment": {"body": "short"}}).status_code == 201


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(tiny_model_dir: Path, tmp_path: Path) -> None:
    from serving.accounts import create_api_key

    settings = Settings(model_dir=tiny_model_dir, database_url=f"sqlite:///{tmp_path / 'rate.db'}", device="cpu", rate_limit_per_minute=3)
    with TestClient(create_app(settings)) as limited:
        with limited.app.state.sessions() as session:  # type: ignore[attr-defined]
            keys = {name: create_api_key(session, name, actor="test") for name in ("forum-a", "forum-b")}
            session.commit()

        def call(name: str):  # type: ignore[no-untyped-def]
            return limited.post("/v1/score", json={"body": "hello"}, headers={"Authorization": f"Bearer {keys[name]}"})

        assert [call("forum-a").status_code for _ in range(3)] == [200, 200, 200]
        refused = call("forum-a")
        assert refused.status_code == 429 and refused.json()["detail"][0]["type"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 20
        assert call("forum-b").status_code == 200  # every key has its own bucket
        assert 'threadguard_rate_limited_total{client="forum-a"} 1.0' in limited.get("/metrics").text


def test_a_comment_not_in_english_is_marked_not_reliably_scored(client: TestClient) -> None:
    response = client.post("/v1/score", json={"comments": [
        {"body": "Das ist eine schreckliche Idee und du bist wirklich dumm"},
        {"body": "This is a terrible idea and the minister knows it."},
    ]})
    german, english = response.json()["results"]
    assert german["language"]["code"] == "de" and german["reliable"] is False and set(german["scores"]) == {"hate", "insult", "off_topic"}
    assert english["language"]["code"] == "en" and english["reliable"] is True
    assert 'threadguard_unreliable_language_total{language="de"}' in client.get("/metrics").text
