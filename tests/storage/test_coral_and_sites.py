"""Coral's External Moderation Phase (signatures good, bad, missing and rotated; 204 / APPROVED / SYSTEM_WITHHELD /
REJECTED; off_topic only with a known article; withheld comments queued) and per-site thresholds, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from serving.accounts import create_api_key
from serving.api import create_app
from serving.coral import sign
from serving.site_thresholds import set_site_threshold
from threadguard.settings import Settings
from threadguard.tables import QueueItem, StoredComment

OLD, NEW = "old-secret", "new-secret"
CORAL = "/v1/integrations/coral"


@pytest.fixture
def client(db_url: str, tiny_model_dir: Path) -> Iterator[TestClient]:
    settings = Settings(model_dir=tiny_model_dir, database_url=db_url, device="cpu", coral_signing_secrets=f"{NEW},{OLD}", site_thresholds_seconds=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _coral_body(text: str, *, tenant: str = "tenant-1", parent: str | None = None, story: str = "story-9") -> bytes:
    payload = {"tenant": {"id": tenant, "domain": "news.example"}, "action": "NEW", "comment": {"body": text, "parentID": parent},
               "author": {"id": "user-5", "role": "COMMENTER"}, "story": {"id": story, "url": f"https://news.example/{story}"}, "site": {"id": "site-1"}}
    return json.dumps(payload, indent=2).encode()  # Coral signs JSON.stringify(data, null, 2)


def _post(client: TestClient, raw: bytes, signature: str | None):  # type: ignore[no-untyped-def]
    headers = {"content-type": "application/json"} | ({"X-Coral-Signature": signature} if signature is not None else {})
    return client.post(CORAL, content=raw, headers=headers)


def _thresholds(client: TestClient, site: str, **labels: tuple[float, float]) -> None:
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        for label, (review, reject) in labels.items():
            set_site_threshold(session, site, label, review, reject, actor="test")
        session.commit()


def _count(client: TestClient, table) -> int:  # type: ignore[no-untyped-def]
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_signatures_good_bad_missing_and_rotated(client: TestClient) -> None:
    raw = _coral_body("Thanks for the article.")
    assert _post(client, raw, sign(raw, NEW)).status_code in (200, 204)
    assert _post(client, raw, sign(raw, OLD)).status_code in (200, 204)  # the previous secret still works while rotating
    assert _post(client, raw, f"{sign(raw, 'retired')},{sign(raw, OLD)}").status_code in (200, 204)  # Coral sends one per active secret
    for bad in (None, "", sign(raw, "wrong"), sign(raw + b" ", NEW), "sha1=" + sign(raw, NEW)[7:], sign(raw, NEW)[7:]):
        response = _post(client, raw, bad)
        assert response.status_code == 401 and response.json()["detail"][0]["loc"] == ["header", "x-coral-signature"]
    assert _count(client, StoredComment) == 0 and _count(client, QueueItem) == 0  # nothing from a refused request was stored


def test_decisions_map_to_coral_statuses_and_withheld_comments_are_queued(client: TestClient) -> None:
    raw = _coral_body("Thanks for the article.")
    _thresholds(client, "tenant-1", hate=(1.0, 1.0), insult=(1.0, 1.0), off_topic=(1.0, 1.0))
    assert _post(client, raw, sign(raw, NEW)).status_code == 204  # allow: no decision, Coral's own phases go on

    _thresholds(client, "tenant-1", insult=(0.0, 1.0))
    withheld = _post(client, raw, sign(raw, NEW))
    answer = withheld.json()
    assert withheld.status_code == 200 and answer["status"] == "SYSTEM_WITHHELD" and answer["tags"] == []
    assert answer["actions"][0]["actionType"] == "FLAG" and answer["actions"][0]["reason"] == "COMMENT_DETECTED_TOXIC"
    meta = answer["metadata"]["threadguard"]
    assert set(meta["scores"]) == {"hate", "insult", "off_topic"} and meta["thresholds"]["site"] == "tenant-1"
    assert meta["labels_decided"] == ["hate", "insult"] and any("off_topic left out" in note for note in meta["notes"])
    assert _count(client, QueueItem) == 1

    _thresholds(client, "tenant-1", insult=(0.0, 0.0))
    assert _post(client, raw, sign(raw, NEW)).json()["status"] == "REJECTED"
    other = _coral_body("Thanks for the article.", tenant="tenant-2")
    answer = _post(client, other, sign(other, NEW))  # tenant-1's thresholds are not tenant-2's
    assert answer.status_code == 204 or answer.json()["status"] != "REJECTED"


def test_off_topic_counts_only_when_threadguard_holds_the_article_and_parent(client: TestClient) -> None:
    _thresholds(client, "tenant-1", hate=(1.0, 1.0), insult=(1.0, 1.0), off_topic=(0.0, 1.0))
    raw = _coral_body("Buy gold now at goldhub!", parent="c-parent")
    assert _post(client, raw, sign(raw, NEW)).status_code == 204  # off_topic is the only trigger, and it is not judged
    # threadguard now holds the parent and, through it, the story's article (as when the forum queued it earlier).
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        session.add(StoredComment(id="c-parent", thread_id="story-9", body="Tariffs will hurt farmers", article_title="US and China trade talks collapse"))
        session.commit()
    answer = _post(client, raw, sign(raw, NEW)).json()
    assert answer["status"] == "SYSTEM_WITHHELD" and answer["actions"][0]["reason"] == "COMMENT_DETECTED_SPAM"
    assert "off_topic" in answer["metadata"]["threadguard"]["labels_decided"] and answer["metadata"]["threadguard"]["notes"] == []


def test_bad_coral_bodies_are_422_naming_the_field(client: TestClient) -> None:
    for raw in (b"{oops", b"\xff\xfe{}", b"[1, 2]", json.dumps({"tenant": {"id": "t"}, "action": "DELETE", "comment": {"body": "x"}}).encode(),
                json.dumps({"tenant": {"id": "t"}, "action": "NEW", "comment": {"body": ""}}).encode()):
        response = _post(client, raw, sign(raw, NEW))
        assert response.status_code == 422 and response.json()["detail"][0]["loc"][0] == "body"
    assert _post(client, b"\xff\xfe{}", sign(b"\xff\xfe{}", NEW)).json()["detail"][0]["type"] == "invalid_encoding"
    bad_action = json.dumps({"tenant": {"id": "t"}, "action": "DELETE", "comment": {"body": "x"}}).encode()
    assert _post(client, bad_action, sign(bad_action, NEW)).json()["detail"][0]["loc"] == ["body", "action"]
    huge = json.dumps({"tenant": {"id": "t"}, "action": "NEW", "comment": {"body": "x" * 1_100_000}}).encode()
    assert _post(client, huge, sign(huge, NEW)).status_code == 413
    assert _count(client, StoredComment) == 0


def test_an_api_keys_site_thresholds_decide_its_requests(client: TestClient) -> None:
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        strict = create_api_key(session, "strict-forum", actor="test", site="strict")
        plain = create_api_key(session, "plain-forum", actor="test")
        session.commit()
    _thresholds(client, "strict", insult=(0.0, 0.0))
    body = {"body": "Thanks for the article."}
    on_strict = client.post("/v1/score", json=body, headers={"Authorization": f"Bearer {strict}"}).json()
    on_plain = client.post("/v1/score", json=body, headers={"Authorization": f"Bearer {plain}"}).json()
    assert on_strict["decision"] == "reject" and on_strict["thresholds"] == {"site": "strict", "overridden": ["insult"]}
    assert on_plain["thresholds"] == {"site": None, "overridden": []} and on_plain["scores"] == on_strict["scores"]
    _thresholds(client, "strict", insult=(1.0, 1.0), hate=(1.0, 1.0), off_topic=(1.0, 1.0))  # an admin relaxes it: no retraining, no restart
    assert client.post("/v1/score", json=body, headers={"Authorization": f"Bearer {strict}"}).json()["decision"] == "allow"
    metrics = client.get("/metrics").text  # decisions are counted under the thresholds that made them
    assert 'threadguard_decisions_total{decision="reject",site="strict"} 1.0' in metrics
    assert 'threadguard_decisions_total{decision="allow",site="strict"} 1.0' in metrics


def test_a_report_is_queued_under_the_reporting_keys_site_thresholds(client: TestClient) -> None:
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        strict = create_api_key(session, "strict-forum", actor="test", site="strict")
        session.commit()
    # Only insult can be flagged on this site, so it is the label a moderator sees first, whatever the model's own thresholds say.
    _thresholds(client, "strict", insult=(0.0, 0.0), hate=(1.0, 1.0), off_topic=(1.0, 1.0))
    comment = {"id": "rep-1", "body": "Thanks for the article, a good read."}
    response = client.post("/v1/reports", json={"comment": comment, "reason": "rude"}, headers={"Authorization": f"Bearer {strict}"})
    assert response.status_code == 201, response.text
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        item = session.scalar(select(QueueItem).where(QueueItem.comment_id == "rep-1"))
        assert item is not None and item.top_label == "insult"
