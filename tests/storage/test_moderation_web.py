"""The moderation page and the APIs around it, through the real app on SQLite and PostgreSQL: setup, login,
CSRF, roles, API keys, enqueue → decide → undo, escaping of hostile comment text, word highlights."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from labels.threads import parse_file
from serving.accounts import SETUP_TOKEN, Role, add_user, create_api_key, shared_secret
from serving.api import create_app
from tests.conftest import SEEDS
from threadguard.settings import Settings

XSS = '<script>document.title="pwned"</script><img src=x onerror="alert(1)"> you idiot'


@pytest.fixture
def app_client(db_url: str, tiny_model_dir: Path) -> Iterator[TestClient]:
    settings = Settings(model_dir=tiny_model_dir, database_url=db_url, device="cpu")
    with TestClient(create_app(settings)) as client:
        yield client


def _csrf(client: TestClient) -> str:
    if "tg_csrf" not in client.cookies:
        client.get("/login")
    return client.cookies["tg_csrf"]


def _add_user(client: TestClient, name: str, role: Role, password: str = "password123") -> None:
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        add_user(session, name, password, role, actor="test")
        session.commit()


def _login(client: TestClient, name: str, role: Role = Role.moderator) -> None:
    _add_user(client, name, role)
    response = client.post("/login", data={"name": name, "password": "password123", "csrf": _csrf(client)}, follow_redirects=False)
    assert response.status_code == 303, response.text


def _counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-queue="(\w+)">\w+ <b>(\d+)</b>', html)}


def test_fresh_install_sends_to_one_time_setup_that_creates_the_admin(app_client: TestClient) -> None:
    assert app_client.get("/moderate", follow_redirects=False).headers["location"] == "/login"
    assert app_client.get("/login", follow_redirects=False).headers["location"] == "/setup"
    csrf = _csrf(app_client)
    bad = app_client.post("/setup", data={"token": "wrong", "name": "root", "password": "password123", "csrf": csrf})
    assert bad.status_code == 403
    with app_client.app.state.sessions() as session:  # type: ignore[attr-defined]
        token = shared_secret(session, SETUP_TOKEN)
    ok = app_client.post("/setup", data={"token": token, "name": "root", "password": "password123", "csrf": csrf}, follow_redirects=False)
    assert ok.status_code == 303 and app_client.get("/admin").status_code == 200
    again = app_client.post("/setup", data={"token": token, "name": "evil", "password": "password123", "csrf": csrf})
    assert again.status_code == 403  # the token worked once
    assert app_client.get("/setup", follow_redirects=False).headers["location"] == "/login"


def test_form_posts_without_the_csrf_token_are_refused(app_client: TestClient) -> None:
    _add_user(app_client, "ann", Role.moderator)
    _csrf(app_client)
    for data in ({"name": "ann", "password": "password123"}, {"name": "ann", "password": "password123", "csrf": "forged"}):
        response = app_client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 403 and response.json()["detail"][0]["loc"] == ["body", "csrf"]
    _login(app_client, "bob")
    assert app_client.post("/moderate/undo", data={}, follow_redirects=False).status_code == 403
    assert app_client.post("/moderate/decide", data={"item_id": 1, "action": "approve", "csrf": "nope"}).status_code == 403


def test_wrong_password_is_refused(app_client: TestClient) -> None:
    _add_user(app_client, "ann", Role.moderator)
    response = app_client.post("/login", data={"name": "ann", "password": "not it at all", "csrf": _csrf(app_client)})
    assert response.status_code == 401 and "Wrong name or password" in response.text
    assert app_client.get("/moderate", follow_redirects=False).status_code == 303


def test_api_key_matrix(app_client: TestClient) -> None:
    comment = {"body": "you dope", "article_title": "Trade talks"}
    assert app_client.post("/v1/score", json=comment).status_code == 200  # no key exists yet: open
    with app_client.app.state.sessions() as session:  # type: ignore[attr-defined]
        key = create_api_key(session, "forum", actor="test")
        session.commit()
    missing = app_client.post("/v1/score", json=comment)
    assert missing.status_code == 401 and missing.json()["detail"][0]["loc"] == ["header", "authorization"]
    assert app_client.post("/v1/score", json=comment, headers={"Authorization": "Bearer tg_wrong"}).status_code == 401
    assert app_client.post("/v1/score", json=comment, headers={"Authorization": f"Basic {key}"}).status_code == 401
    assert app_client.post("/v1/score", json=comment, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    report = {"comment": {"id": "r1", "body": "spam spam"}, "reason": "spam"}
    assert app_client.post("/v1/reports", json=report).status_code == 401
    assert app_client.post("/v1/reports", json=report, headers={"Authorization": f"Bearer {key}"}).status_code == 201


def test_moderators_cannot_touch_admin_actions(app_client: TestClient) -> None:
    _login(app_client, "ann", Role.moderator)
    csrf = _csrf(app_client)
    assert app_client.get("/admin").status_code == 403
    assert app_client.post("/admin/keys", data={"name": "x", "csrf": csrf}).status_code == 403
    assert app_client.post("/admin/users", data={"name": "y", "password": "password123", "role": "admin", "csrf": csrf}).status_code == 403
    app_client.cookies.clear()
    _login(app_client, "root", Role.admin)
    created = app_client.post("/admin/keys", data={"name": "forum", "csrf": _csrf(app_client)})
    assert created.status_code == 200 and re.search(r'id="new-key">tg_[\w-]+<', created.text)


def test_enqueue_decide_undo_through_the_page(app_client: TestClient) -> None:
    flagged = {"comments": [
        {"id": "c1", "body": "you are an idiot and a moron", "article_title": "Trade talks", "thread_id": "t1"},
        {"id": "c2", "body": "those people are subhuman vermin", "article_title": "Trade talks", "thread_id": "t1"},
        {"id": "c3", "body": "good point about tariffs", "article_title": "Trade talks", "thread_id": "t1"},
    ], "enqueue": True}
    results = app_client.post("/v1/score", json=flagged).json()["results"]
    queued = sum(r["decision"] != "allow" for r in results)
    assert queued >= 1
    _login(app_client, "ann")
    page = app_client.get("/moderate")
    assert _counts(page.text)["pending"] == queued
    item = re.search(r'name="item_id" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    decided = app_client.post("/moderate/decide", data={"item_id": item, "action": "reject", "labels": ["insult"], "csrf": _csrf(app_client),
                                                        "back": "/moderate?queue=pending"})
    assert _counts(decided.text) == {"pending": queued - 1, "reported": 0, "labelling": 0, "decided": 1}
    undone = app_client.post("/moderate/undo", data={"csrf": _csrf(app_client)})
    assert "Undid your reject" in undone.text and _counts(undone.text)["pending"] == queued
    thread = app_client.get("/moderate/thread/t1")
    assert thread.status_code == 200 and thread.text.count('class="card small"') == queued


def test_hostile_comment_text_is_escaped(app_client: TestClient) -> None:
    hostile = {"id": "x1", "body": XSS, "article_title": "<b>title</b>", "parent_body": "<i>parent</i>", "thread_id": "t<9>"}
    assert app_client.post("/v1/reports", json={"comment": hostile, "reason": "<u>why</u>"}).status_code == 201
    _login(app_client, "ann")
    html = app_client.get("/moderate?queue=reported").text
    assert 'data-item="' in html  # the reported comment is the one on the page
    for raw in ("<script>document", "<img src=x", "<b>title</b>", "<i>parent</i>", "<u>why</u>"):
        assert raw not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;title&lt;/b&gt;" in html and "&lt;u&gt;why&lt;/u&gt;" in html


def test_deleting_the_top_highlighted_word_lowers_that_labels_score(tiny_scorer) -> None:  # type: ignore[no-untyped-def]
    from serving.explain import top_word, word_weights
    from serving.schemas import CommentIn

    comment = CommentIn(body="honestly you are a complete idiot about this", article_title="Trade talks")
    pieces = word_weights(tiny_scorer, comment)
    assert "".join(p.text for p in pieces) == comment.body
    word = top_word(pieces, "insult")
    assert word is not None
    without = comment.model_copy(update={"body": " ".join(w for w in comment.body.split() if w != word)})
    before, after = tiny_scorer.predict_proba([comment, without])[:, 1]
    assert after < before


def test_abuse_past_the_first_words_of_a_long_comment_is_highlighted_too(tiny_scorer) -> None:  # type: ignore[no-untyped-def]
    from serving.explain import MAX_WORDS, top_word, word_weights
    from serving.schemas import CommentIn

    preamble = "The council met on Tuesday and the budget debate about the library and the bus routes ran long. " * 14
    comment = CommentIn(body=preamble + "Honestly you are a complete idiot about this.", article_title="Council budget")
    assert len(comment.body.split()) > 2 * MAX_WORDS
    pieces = word_weights(tiny_scorer, comment)
    assert "".join(p.text for p in pieces) == comment.body
    # The insult sits past word 250: before, only the first MAX_WORDS words were weighed, and none of these carried weight.
    attack = "Honestly you are a complete idiot about this.".split()
    assert top_word(pieces, "insult") in attack
    assert [p.text for p in pieces if p.weights][-len(attack):] == attack
    assert sum(1 for p in pieces if p.weights) <= MAX_WORDS


def test_the_service_erases_text_past_retention_on_its_own(db_url: str, tiny_model_dir: Path) -> None:
    import datetime as dt
    import time

    from sqlalchemy import update

    from threadguard.tables import StoredComment

    settings = Settings(model_dir=tiny_model_dir, database_url=db_url, device="cpu", retention_days=30, retention_check_seconds=1)
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/reports", json={"comment": {"id": "old", "body": "an old comment"}}).status_code == 201
        with client.app.state.sessions() as session:  # type: ignore[attr-defined]
            session.execute(update(StoredComment).values(received_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=31)))
            session.commit()
        for _ in range(50):
            with client.app.state.sessions() as session:  # type: ignore[attr-defined]
                if session.get(StoredComment, "old").body is None:  # type: ignore[union-attr]
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("the retention sweep did not erase the old comment's text")


def test_a_removed_or_demoted_user_loses_access_at_once(app_client: TestClient) -> None:
    from sqlalchemy import delete, update

    from threadguard.tables import User

    _login(app_client, "root", Role.admin)
    assert app_client.get("/admin").status_code == 200
    with app_client.app.state.sessions() as session:  # type: ignore[attr-defined]
        session.execute(update(User).where(User.name == "root").values(role="moderator"))
        session.commit()
    assert app_client.get("/admin").status_code == 403
    with app_client.app.state.sessions() as session:  # type: ignore[attr-defined]
        session.execute(delete(User).where(User.name == "root"))
        session.commit()
    assert app_client.get("/moderate", follow_redirects=False).headers["location"] == "/login"


def test_a_tampered_session_cookie_is_not_a_login(app_client: TestClient) -> None:
    _login(app_client, "ann")
    cookie = app_client.cookies["tg_session"]
    app_client.cookies.clear()
    app_client.cookies.set("tg_session", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    assert app_client.get("/moderate", follow_redirects=False).status_code == 303


@pytest.mark.skipif(not SEEDS.is_dir(), reason="needs ../shared/seeds")
def test_a_thread_export_uploaded_on_the_page_fills_the_labelling_queue(app_client: TestClient) -> None:
    _login(app_client, "ann")
    seed = next(p for p in sorted(SEEDS.glob("*.txt")) if len(parse_file(p)) > 0)
    expected = len(parse_file(seed))
    page = app_client.post("/moderate/import", data={"csrf": _csrf(app_client)}, files={"file": (seed.name, seed.read_bytes(), "text/plain")})
    assert page.status_code == 200 and f"Imported {expected} comments" in page.text
    assert _counts(page.text)["labelling"] == expected
    bad = app_client.post("/moderate/import", data={"csrf": _csrf(app_client)},
                          files={"file": ("broken.txt", b"Title\n\nfoo Tue, 02/30/2018 - 10:48 Permalink\nhi\n", "text/plain")})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "file"] and "broken.txt:3" in bad.json()["detail"][0]["msg"]
    forged = app_client.post("/moderate/import", data={"csrf": "nope"}, files={"file": (seed.name, seed.read_bytes(), "text/plain")})
    assert forged.status_code == 403
    assert _counts(app_client.get("/moderate?queue=labelling").text)["labelling"] == expected


@pytest.fixture(scope="module")
def repairing_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_set_path: Path) -> Path:
    """A tiny linear model trained, and serving, with normalisation and spelling repair."""
    from tests.conftest import DATASETS, tiny_config
    from training.pipeline import train_and_export

    config = tiny_config(tiny_set_path, name="tinyrepair", text_normalisation=True, spelling_repair=True)
    return train_and_export(config, datasets_dir=DATASETS, models_root=tmp_path_factory.mktemp("repairing"), progress=False)  # type: ignore[return-value]


def test_the_model_card_says_how_input_text_is_read(repairing_model_dir: Path, tiny_model_dir: Path) -> None:
    assert "Misspelt abuse is repaired last" in (repairing_model_dir / "MODEL_CARD.md").read_text()
    assert "- Input text: read as written (no normalisation)." in (tiny_model_dir / "MODEL_CARD.md").read_text()


def test_the_page_shows_what_the_model_read_where_normalisation_changed_the_text(db_url: str, repairing_model_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=repairing_model_dir, database_url=db_url, device="cpu"))) as client:
        for i, body in enumerate(("I h4et you, you idoit", "you are wrong about the tariffs")):
            assert client.post("/v1/reports", json={"comment": {"id": f"r{i}", "body": body}, "reason": "abuse"}).status_code == 201
        _login(client, "ann")
        shown = {}
        for _ in range(2):
            html = client.get("/moderate?queue=reported").text
            item = re.search(r'name="item_id" value="(\d+)"', html).group(1)  # type: ignore[union-attr]
            read = re.search(r'id="read-as"><span class="tag">the model read</span> ([^<]*)</p>', html)
            shown[item] = read.group(1) if read else None
            client.post("/moderate/decide", data={"item_id": item, "action": "approve", "csrf": _csrf(client), "back": "/moderate?queue=reported"})
    assert sorted(shown.values(), key=str) == ["I hate you, you idiot", None]
