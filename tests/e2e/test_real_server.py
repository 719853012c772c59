"""A real `threadguard serve` process on loopback: ready quickly, scores over HTTP, fails cleanly on a bad model."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from threadguard.settings import PROJECT_ROOT

CLI = [sys.executable, "-c", "from threadguard.cli import run; run()"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tiny_model_dir: Path, tmp_path: Path) -> Iterator[tuple[str, float]]:
    port = _free_port()
    env = {"THREADGUARD_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "PATH": "/usr/bin:/bin"}
    started = time.monotonic()
    proc = subprocess.Popen([*CLI, "serve", "--model", str(tiny_model_dir), "--port", str(port), "--device", "auto"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        ready_after = None
        for _ in range(300):
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    ready_after = time.monotonic() - started
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert ready_after is not None, "server not ready within 30 s"
        yield base, ready_after
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
    result = subprocess.run([*CLI, "serve", "--model", str(broken), "--port", str(_free_port())], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "missing config.json" in result.stderr
