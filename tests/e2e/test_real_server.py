"""A real `threadguard serve` process on loopback: ready quickly, scores over HTTP, fails cleanly on a bad model."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import CLI, free_port, running_server
from threadguard.settings import PROJECT_ROOT


@pytest.fixture
def server(tiny_model_dir: Path, tmp_path: Path) -> Iterator[tuple[str, float]]:
    with running_server(tiny_model_dir, f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path / "server.log") as running:
        yield running.base, running.ready_after


def test_real_server_is_ready_fast_and_scores(server: tuple[str, float]) -> None:
    base, ready_after = server
    assert ready_after < 30
    single = httpx.post(f"{base}/v1/score", json={"body": "what a moron you are, really", "article_title": None}, timeout=10)
    assert single.status_code == 200 and single.json()["scores"]["insult"] > 0.5
    batch = httpx.post(f"{base}/v1/score", json={"comments": [{"body": "a"}, {"body": "b"}]}, timeout=10)
    assert [r["id"] for r in batch.json()["results"]] != [] and len(batch.json()["results"]) == 2
    bad = httpx.post(f"{base}/v1/score", content=b"\xff\xfe", headers={"content-type": "application/json"}, timeout=10)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body"]


def test_serve_refuses_a_broken_model_dir_in_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "model"
    broken.mkdir()
    result = subprocess.run([*CLI, "serve", "--model", str(broken), "--port", str(free_port())], check=False, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "missing config.json" in result.stderr
