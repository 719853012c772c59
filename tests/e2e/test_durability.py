"""A decision acknowledged to the browser survives `kill -9` of the server, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import signal
import threading
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.fixtures.server import add_moderator, running_server
from threadguard.db import make_engine, session_factory
from threadguard.tables import ModeratorDecision

pytestmark = pytest.mark.slow


def test_acknowledged_decisions_survive_kill_9(tiny_model_dir: Path, db_url: str, tmp_path: Path) -> None:
    add_moderator(db_url)

    acknowledged: list[int] = []
    with running_server(tiny_model_dir, db_url, tmp_path / "server.log") as server:
        comments = [{"id": f"c{i}", "body": f"reported comment number {i}", "thread_id": "t"} for i in range(200)]
        for comment in comments:
            assert httpx.post(f"{server.base}/v1/reports", json={"comment": comment}, timeout=10).status_code == 201
        client = httpx.Client(base_url=server.base, timeout=10)
        client.get("/login")
        csrf = client.cookies["tg_csrf"]
        assert client.post("/login", data={"name": "ann", "password": "password123", "csrf": csrf}).status_code == 303

        killer = threading.Timer(2.0, lambda: server.process.send_signal(signal.SIGKILL))
        killer.start()
        try:
            while True:
                page = client.get("/moderate", params={"queue": "reported", "sort": "age"})
                item = int(re.search(r'name="item_id" value="(\d+)"', page.text).group(1))  # type: ignore[union-attr]
                response = client.post("/moderate/decide", data={"item_id": item, "action": "approve", "csrf": csrf})
                if response.status_code == 303:
                    acknowledged.append(item)
        except httpx.TransportError:
            pass  # the server died mid-stream
        finally:
            killer.cancel()
        server.process.wait(timeout=10)
        assert server.process.returncode == -signal.SIGKILL

    print(f"{len(acknowledged)} decisions acknowledged before kill -9")
    assert len(acknowledged) >= 5, "the server died before deciding anything: raise the timer"
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        stored = set(session.scalars(select(ModeratorDecision.item_id)))
        total = session.scalar(select(func.count()).select_from(ModeratorDecision))
    engine.dispose()
    assert set(acknowledged) <= stored  # every acknowledged decision is on disk
    assert total - len(acknowledged) <= 1  # at most the one in flight when the kill landed
