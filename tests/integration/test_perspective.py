"""Perspective-compatible API contract: AnalyzeComment and SuggestCommentScore request → response, every error case in
Perspective's error shape, the API key as ?key=, the discovery document, and Coral's exact toxic-phase request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.api import create_app
from threadguard.settings import Settings

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
INSULT = "You are an idiot, honestly. Go away."
ARTICLE = "US and China trade talks collapse over tariffs. Negotiators failed to agree on tariffs and subsidies."


@pytest.fixture(scope="module")
def client(tiny_model_dir: Path, module_db_url: str) -> Iterator[TestClient]:
    settings = Settings(model_dir=tiny_model_dir, database_url=module_db_url, device="cpu")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _scores(client: TestClient, body: str, **context: str) -> dict[str, float]:
    return client.post("/v1/score", json={"body": body, **context}).json()["scores"]


def _error(response, status: int, error_type: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == status and error["status"] and error["details"][0]["errorType"] == error_type
    return error["message"]


def test_corals_exact_toxicity_request(client: TestClient) -> None:
    # What Coral's toxic phase sends: POST {endpoint}/comments:analyze?key=KEY with exactly this body.
    body = {"comment": {"text": INSULT}, "languages": ["en"], "doNotStore": True, "requestedAttributes": {"TOXICITY": {}}}
    response = client.post(f"{ANALYZE}?key=anything", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"attributeScores", "languages", "detectedLanguages", "threadguard"} and answer["languages"] == ["en"]
    assert answer["threadguard"]["thresholds"] == {"site": None, "overridden": []}
    summary = answer["attributeScores"]["TOXICITY"]["summaryScore"]
    scores = _scores(client, INSULT)
    assert summary == {"value": pytest.approx(max(scores["hate"], scores["insult"]), abs=1e-5), "type": "PROBABILITY"}


def test_every_attribute_with_spans_context_and_client_token(client: TestClient) -> None:
    text = "Tariffs will hurt farmers first. You are an idiot, honestly!"
    attributes = {name: {} for name in ("TOXICITY", "SEVERE_TOXICITY", "INSULT", "IDENTITY_ATTACK", "OFF_TOPIC")}
    answer = client.post(ANALYZE, json={"comment": {"text": text, "type": "PLAIN_TEXT"}, "requestedAttributes": attributes, "spanAnnotations": True,
                                        "clientToken": "tok-1", "context": {"entries": [{"text": ARTICLE}]}}).json()
    assert answer["clientToken"] == "tok-1" and answer["detectedLanguages"] == ["en"]
    scores = _scores(client, text, article_text=ARTICLE)
    values = {name: entry["summaryScore"]["value"] for name, entry in answer["attributeScores"].items()}
    toxic = max(scores["hate"], scores["insult"])
    assert values == pytest.approx({"TOXICITY": toxic, "SEVERE_TOXICITY": toxic**2, "INSULT": scores["insult"], "IDENTITY_ATTACK": scores["hate"],
                                    "OFF_TOPIC": scores["off_topic"]}, abs=1e-5)
    spans = answer["attributeScores"]["INSULT"]["spanScores"]
    assert [(s["begin"], s["end"]) for s in spans] == [(0, 32), (33, len(text))]
    assert [text[s["begin"]:s["end"]] for s in spans] == ["Tariffs will hurt farmers first.", "You are an idiot, honestly!"]
    second = _scores(client, "You are an idiot, honestly!", article_text=ARTICLE)["insult"]
    assert spans[1]["score"] == {"value": pytest.approx(second, abs=1e-5), "type": "PROBABILITY"}


def test_off_topic_is_judged_against_the_context(client: TestClient) -> None:
    pitch = "Buy gold now, guaranteed returns at goldhub"
    with_article = client.post(ANALYZE, json={"comment": {"text": pitch}, "requestedAttributes": {"OFF_TOPIC": {}},
                                              "context": {"articleAndParentComment": {"article": {"text": ARTICLE}}}}).json()
    bare = client.post(ANALYZE, json={"comment": {"text": pitch}, "requestedAttributes": {"OFF_TOPIC": {}}}).json()
    assert with_article["attributeScores"]["OFF_TOPIC"]["summaryScore"]["value"] == pytest.approx(_scores(client, pitch, article_text=ARTICLE)["off_topic"], abs=1e-5)
    assert bare["attributeScores"]["OFF_TOPIC"]["summaryScore"]["value"] == pytest.approx(_scores(client, pitch)["off_topic"], abs=1e-5)


def test_score_threshold_leaves_out_low_attributes(client: TestClient) -> None:
    answer = client.post(ANALYZE, json={"comment": {"text": INSULT}, "requestedAttributes": {"INSULT": {"scoreThreshold": 0.0},
                                                                                              "IDENTITY_ATTACK": {"scoreThreshold": 1.0}}}).json()
    assert set(answer["attributeScores"]) == {"INSULT"}


@pytest.mark.parametrize(("body", "error_type", "fragment"), [
    ({"comment": {"text": INSULT}, "requestedAttributes": {"PROFANITY": {}}}, "ATTRIBUTE_NOT_SUPPORTED", "Unknown attribute: PROFANITY"),
    ({"comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["de"]}, "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE",
     "does not support request languages: de"),
    ({"comment": {"text": "Das ist eine schreckliche Idee und du bist wirklich dumm"}, "requestedAttributes": {"TOXICITY": {}}},
     "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE", "does not support request languages: de"),
    ({"comment": {"text": "<b>hi</b>", "type": "HTML"}, "requestedAttributes": {"TOXICITY": {}}}, "INVALID_ARGUMENT", "PLAIN_TEXT"),
    ({"comment": {"text": "   "}, "requestedAttributes": {"TOXICITY": {}}}, "COMMENT_EMPTY", "non-empty"),
    ({"comment": {"text": "x" * 20_481}, "requestedAttributes": {"TOXICITY": {}}}, "COMMENT_TOO_LONG", "too long"),
    ({"comment": {"text": INSULT}, "requestedAttributes": {}}, "INVALID_ARGUMENT", "at least one attribute"),
    ({"comment": {"text": INSULT}}, "INVALID_ARGUMENT", "requestedAttributes"),
    ({"comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {"scoreType": "STD_DEV_SCORE"}}}, "INVALID_ARGUMENT", "scoreType"),
    ({"comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {"scoreThreshold": 2}}}, "INVALID_ARGUMENT", "scoreThreshold"),
])
def test_what_threadguard_cannot_score_gets_perspectives_error_shape(client: TestClient, body: dict, error_type: str, fragment: str) -> None:
    assert fragment in _error(client.post(ANALYZE, json=body), 400, error_type)


def test_malformed_json_gets_perspectives_error_shape(client: TestClient) -> None:
    response = client.post(ANALYZE, content=b"{not json", headers={"content-type": "application/json"})
    assert "Invalid JSON payload" in _error(response, 400, "INVALID_ARGUMENT")
    not_utf8 = client.post(ANALYZE, content=b"\xff\xfe{}", headers={"content-type": "application/json"})
    assert "Invalid JSON payload" in _error(not_utf8, 400, "INVALID_ARGUMENT")
    huge = client.post(ANALYZE, json={"comment": {"text": "x" * 1_100_000}, "requestedAttributes": {"TOXICITY": {}}})
    assert "request body over" in _error(huge, 413, "INVALID_ARGUMENT")


def test_discovery_document_roots_the_client_here(client: TestClient) -> None:
    doc = client.get("/$discovery/rest", params={"version": "v1alpha1", "key": "ignored"}).json()
    assert doc["rootUrl"] == "http://testserver/" and doc["name"] == "commentanalyzer" and doc["version"] == "v1alpha1"
    methods = doc["resources"]["comments"]["methods"]
    assert methods["analyze"]["path"] == "v1alpha1/comments:analyze" and methods["analyze"]["httpMethod"] == "POST"
    assert methods["suggestscore"]["request"]["$ref"] in doc["schemas"]
    _error(client.get("/$discovery/rest", params={"version": "v1"}), 404, "NOT_FOUND")


def test_suggested_scores_become_labels(client: TestClient) -> None:
    from labels.feedback import export_suggestions

    body = {"comment": {"text": "you utter clown"}, "attributeScores": {"INSULT": {"summaryScore": {"value": 1.0}}},
            "communityId": "forum-a", "clientToken": "t9", "context": {"entries": [{"text": ARTICLE}]}}
    answer = client.post(SUGGEST, json=body)
    assert answer.status_code == 200 and answer.json() == {"detectedLanguages": ["en"], "requestedLanguages": ["en"], "clientToken": "t9"}
    not_toxic = {"comment": {"text": "Thanks, that tariff chart helped"}, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0.0}}}}
    assert client.post(SUGGEST, json=not_toxic).status_code == 200
    assert "Unknown attribute" in _error(client.post(SUGGEST, json={**body, "attributeScores": {"FLIRTATION": {"summaryScore": {"value": 1}}}}),
                                         400, "ATTRIBUTE_NOT_SUPPORTED")
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        rows = {row.body: row for row in export_suggestions(session)}
    clown = rows["you utter clown"]
    assert clown.insult == 1 and clown.hate is None and clown.off_topic is None and clown.article_text == ARTICLE and "forum-a" in clown.rationale
    thanks = rows["Thanks, that tariff chart helped"]
    assert (thanks.hate, thanks.insult, thanks.off_topic) == (0, 0, None)


def test_the_api_key_travels_as_key_parameter_or_header(tiny_model_dir: Path, tmp_path: Path) -> None:
    from serving.accounts import create_api_key

    settings = Settings(model_dir=tiny_model_dir, database_url=f"sqlite:///{tmp_path / 'keys.db'}", device="cpu")
    with TestClient(create_app(settings)) as keyed:
        with keyed.app.state.sessions() as session:  # type: ignore[attr-defined]
            key = create_api_key(session, "coral", actor="test")
            session.commit()
        body = {"comment": {"text": INSULT}, "requestedAttributes": {"TOXICITY": {}}}
        assert "API key" in _error(keyed.post(ANALYZE, json=body), 401, "UNAUTHENTICATED")
        _error(keyed.post(f"{ANALYZE}?key=wrong", json=body), 401, "UNAUTHENTICATED")
        assert keyed.post(f"{ANALYZE}?key={key}", json=body).status_code == 200
        assert keyed.post(ANALYZE, json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 200
        assert keyed.post(f"/v1/score?key={key}", json={"body": "hello"}).status_code == 200


def test_a_community_ids_thresholds_decide_and_are_named(client: TestClient) -> None:
    from serving.site_thresholds import set_site_threshold

    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        set_site_threshold(session, "forum-strict", "insult", 0.0, 0.0, actor="test")
        session.commit()
    client.app.state.thresholds.ttl = 0  # type: ignore[attr-defined]
    body = {"comment": {"text": "Thanks for the chart."}, "requestedAttributes": {"INSULT": {}}, "communityId": "forum-strict"}
    strict = client.post(ANALYZE, json=body).json()["threadguard"]
    assert strict["decision"] == "reject" and strict["thresholds"] == {"site": "forum-strict", "overridden": ["insult"]}
    other = client.post(ANALYZE, json={**body, "communityId": "forum-other"}).json()["threadguard"]
    assert other["thresholds"]["site"] is None
