"""Hot model swap on SQLite and PostgreSQL: activation through the database, zero failed requests while swapping
under load, broken dirs refused while the old model serves, rollback, shadow scoring with agreement in /metrics."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving import assignments
from serving.api import create_app
from threadguard.errors import ArtifactError, UsageError
from threadguard.settings import Settings
from threadguard.tables import ModelAssignment

COMMENT = {"body": "you are an idiot, honestly", "article_title": "Trade talks resume"}


@pytest.fixture
def client(db_url: str, tiny_model_dir: Path) -> Iterator[TestClient]:
    settings = Settings(model_dir=tiny_model_dir, database_url=db_url, device="cpu", model_poll_seconds=0.1)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _assign(client: TestClient, role: str, path: Path | None) -> None:
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        assignments.assign(session, role, path, actor="test")
        session.commit()


def _live_name(client: TestClient) -> str:
    return client.get("/readyz").json()["model"]["name"]


def _wait_for(predicate, seconds: float = 10.0) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


def _metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric line starting {line_start!r}")


def test_swap_under_load_fails_no_request(client: TestClient, tiny_model_dir: Path, second_tiny_model_dir: Path) -> None:
    stop = threading.Event()
    answers: list[tuple[int, str]] = []

    def hammer() -> None:
        while not stop.is_set():
            response = client.post("/v1/score", json={"comments": [COMMENT, {"body": "Tariffs will raise prices."}]})
            answers.append((response.status_code, response.json()["results"][0]["model"]["name"] if response.status_code == 200 else response.text))

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        _wait_for(lambda: len(answers) >= 20)
        _assign(client, assignments.LIVE, second_tiny_model_dir)
        _wait_for(lambda: _live_name(client) == second_tiny_model_dir.name)
        count = len(answers)
        _wait_for(lambda: len(answers) >= count + 20)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert {status for status, _ in answers} == {200}, [a for a in answers if a[0] != 200][:3]
    names = [name for _, name in answers]
    old, new = tiny_model_dir.name, second_tiny_model_dir.name
    assert names[0] == old and names[-1] == new
    # Once a request got the new model, at most the requests already in flight got the old one (one atomic swap).
    assert names[names.index(new):].count(old) <= len(workers)
    assert _metric(client, 'threadguard_model_swaps_total{role="live"}') == 1.0
    assert f'threadguard_model_info{{name="{new}"' in client.get("/metrics").text
    response = client.post("/v1/score", json=COMMENT)
    assert response.headers["X-Model-Version"].startswith(f"{new}/")


def _broken_copies(source: Path, root: Path) -> dict[str, Path]:
    copies = {}
    for kind in ("missing_file", "wrong_labels", "corrupt_weights"):
        dest = root / kind
        shutil.copytree(source, dest)
        copies[kind] = dest
    (copies["missing_file"] / "vocab.json").unlink()
    (copies["wrong_labels"] / "labels.json").write_text('["hate", "insult", "spam"]')
    (copies["corrupt_weights"] / "linear.npz").write_bytes(b"PK\x03\x04 this is not a weights file")
    return copies


def test_a_broken_model_dir_is_refused_and_the_old_model_keeps_serving(client: TestClient, tiny_model_dir: Path, second_tiny_model_dir: Path,
                                                                       tmp_path: Path) -> None:
    broken = _broken_copies(second_tiny_model_dir, tmp_path)
    messages = {"missing_file": "No such file.*vocab.json", "wrong_labels": "spam", "corrupt_weights": "corrupt_weights"}
    for kind, path in broken.items():
        with pytest.raises(ArtifactError, match=messages[kind]), client.app.state.sessions() as session:  # type: ignore[attr-defined]
            assignments.assign(session, assignments.LIVE, path, actor="test")
    # A dir that broke after it was activated (written straight into the table, past the check): every replica refuses it.
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        session.add(ModelAssignment(role=assignments.LIVE, model_path=str(broken["corrupt_weights"]), model_name="tinyb", model_version="x", actor="test"))
        session.commit()
    _wait_for(lambda: _metric(client, 'threadguard_model_load_failures_total{role="live"}') == 1.0)
    response = client.post("/v1/score", json=COMMENT)
    assert response.status_code == 200 and response.json()["model"]["name"] == tiny_model_dir.name
    assert _live_name(client) == tiny_model_dir.name


def test_rollback_returns_to_the_previous_model(client: TestClient, tiny_model_dir: Path, second_tiny_model_dir: Path) -> None:
    with client.app.state.sessions() as session, pytest.raises(UsageError, match="nothing to roll back"):  # type: ignore[attr-defined]
        assignments.rollback(session, actor="test")
    _assign(client, assignments.LIVE, tiny_model_dir)
    _assign(client, assignments.LIVE, second_tiny_model_dir)
    _wait_for(lambda: _live_name(client) == second_tiny_model_dir.name)
    with client.app.state.sessions() as session:  # type: ignore[attr-defined]
        back = assignments.rollback(session, actor="test")
        session.commit()
    assert back.path == tiny_model_dir.resolve()
    _wait_for(lambda: _live_name(client) == tiny_model_dir.name)


def test_shadow_scores_the_same_traffic_and_reports_agreement(client: TestClient, tiny_model_dir: Path, second_tiny_model_dir: Path) -> None:
    _assign(client, assignments.SHADOW, second_tiny_model_dir)
    _wait_for(lambda: client.get("/readyz").json().get("shadow", {}).get("name") == second_tiny_model_dir.name)
    comments = [COMMENT, {"body": "Buy gold now at goldhub, returns guaranteed", "article_title": "Trade talks resume"},
                {"body": "The tariffs will hurt farmers first."}]
    for _ in range(5):
        response = client.post("/v1/score", json={"comments": comments})
        assert {r["model"]["name"] for r in response.json()["results"]} == {tiny_model_dir.name}  # the shadow decides nothing
    client.app.state.scoring.shadow.drain()  # type: ignore[attr-defined]
    agreed = _metric(client, 'threadguard_shadow_comparisons_total{agree="true"}')
    disagreed = _metric(client, 'threadguard_shadow_comparisons_total{agree="false"}')
    assert agreed + disagreed == 15
    assert _metric(client, f'threadguard_shadow_agreement{{name="{second_tiny_model_dir.name}"') == pytest.approx(agreed / 15)
    _assign(client, assignments.SHADOW, None)
    _wait_for(lambda: "shadow" not in client.get("/readyz").json())
