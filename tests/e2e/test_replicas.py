"""Past one machine: two `threadguard serve` replicas on one database (SQLite file and PostgreSQL) share the
moderation queue and follow `threadguard models activate` within 10 seconds; the Dockerfile and compose file
start the service with the very command tested here."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.fixtures.server import add_moderator, running_server
from tests.storage.test_moderation_cli import tg
from threadguard.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow


def _login(base: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=10)
    client.get("/login")
    csrf = client.cookies["tg_csrf"]
    assert client.post("/login", data={"name": "ann", "password": "password123", "csrf": csrf}).status_code == 303
    return client, csrf


def test_two_replicas_share_the_queue_and_switch_models_together(tiny_model_dir: Path, second_tiny_model_dir: Path, db_url: str,
                                                                  tmp_path: Path) -> None:
    add_moderator(db_url)
    with running_server(tiny_model_dir, db_url, tmp_path / "a.log") as a, running_server(tiny_model_dir, db_url, tmp_path / "b.log") as b:
        report = httpx.post(f"{a.base}/v1/reports", json={"comment": {"id": "r1", "body": "you absolute clown", "thread_id": "t"}}, timeout=10)
        assert report.status_code == 201
        on_b, csrf = _login(b.base)
        page = on_b.get("/moderate", params={"queue": "reported"})
        item = int(re.search(r'name="item_id" value="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
        assert on_b.post("/moderate/decide", data={"item_id": item, "action": "reject", "csrf": csrf}).status_code == 303
        on_a, _ = _login(a.base)
        assert 'name="item_id"' not in on_a.get("/moderate", params={"queue": "reported"}).text  # A sees B's decision
        decided = on_a.get("/moderate", params={"queue": "decided"}).text
        assert "you absolute clown" in decided

        activated = tg(db_url, "models", "activate", str(second_tiny_model_dir))
        assert activated.returncode == 0, activated.stderr
        started = time.monotonic()
        pending = {a.base, b.base}
        while pending and time.monotonic() - started < 10:
            for base in list(pending):  # noqa: PERF101 - a copy: the loop discards from the set
                if httpx.get(f"{base}/readyz", timeout=5).json()["model"]["name"] == second_tiny_model_dir.name:
                    pending.discard(base)
            time.sleep(0.2)
        assert not pending, f"not switched within 10 s: {pending}"
        for base in (a.base, b.base):
            scored = httpx.post(f"{base}/v1/score", json={"body": "hello there"}, timeout=10)
            assert scored.json()["model"]["name"] == second_tiny_model_dir.name


def test_sighup_makes_a_replica_check_at_once(tiny_model_dir: Path, second_tiny_model_dir: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'hup.db'}"
    with running_server(tiny_model_dir, db_url, tmp_path / "hup.log", env={"THREADGUARD_MODEL_POLL_SECONDS": "600"}) as server:
        assert tg(db_url, "models", "activate", str(second_tiny_model_dir)).returncode == 0
        time.sleep(1.0)
        assert httpx.get(f"{server.base}/readyz", timeout=5).json()["model"]["name"] == tiny_model_dir.name  # the next poll is 10 minutes away
        server.process.send_signal(signal.SIGHUP)
        started = time.monotonic()
        while httpx.get(f"{server.base}/readyz", timeout=5).json()["model"]["name"] != second_tiny_model_dir.name:
            assert time.monotonic() - started < 5, "SIGHUP did not make the replica switch"
            time.sleep(0.1)


def _dockerfile_cmd() -> list[str]:
    lines = (PROJECT_ROOT / "Dockerfile").read_text().splitlines()
    return json.loads(next(line for line in lines if line.startswith("CMD "))[4:])


def test_the_container_command_is_the_one_that_serves(db_url: str, tmp_path: Path) -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    service = compose["services"]["threadguard"]
    command = _dockerfile_cmd()
    assert service["command"] == command and command[:2] == ["threadguard", "serve"]
    env = {k: str(v) for k, v in service["environment"].items() if k != "THREADGUARD_DATABASE_URL"}  # compose's points at its own db
    with running_server(None, db_url, tmp_path / "container.log", command=command[1:], env=env) as server:
        ready = httpx.get(f"{server.base}/readyz", timeout=5).json()
        assert ready["model"]["name"] == (PROJECT_ROOT / "models" / "current").resolve().name  # the image's default model
        scored = httpx.post(f"{server.base}/v1/score", json={"body": "Buy gold now!", "article_title": "Trade talks resume"}, timeout=30)
        assert scored.status_code == 200 and scored.json()["language"]["code"] == "en"
        assert '"request_id"' in server.log.read_text()  # the compose file turns on JSON logs
