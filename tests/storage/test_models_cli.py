"""`threadguard models list / activate / rollback / shadow` on SQLite and PostgreSQL; a broken dir is one error line."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from serving import assignments
from tests.storage.test_moderation_cli import tg
from threadguard.db import make_engine, session_factory


def _latest(db_url: str, role: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as session:
            return assignments.latest(session, role)
    finally:
        engine.dispose()


@pytest.mark.slow  # CLI processes that each load a model
def test_models_commands(db_url: str, tiny_model_dir: Path, second_tiny_model_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    root.mkdir()
    for source in (tiny_model_dir, second_tiny_model_dir):
        shutil.copytree(source, root / source.name)
    a, b = tiny_model_dir.name, second_tiny_model_dir.name

    def run(*args: str):  # type: ignore[no-untyped-def]
        return tg(db_url, "models", *args, env={"THREADGUARD_MODELS_ROOT": str(root)})

    assert run("activate", a).returncode == 0 and run("activate", b).returncode == 0
    assert _latest(db_url, assignments.LIVE).name == b
    listed = {row["name"]: row["roles"] for row in map(json.loads, run("list").stdout.splitlines())}
    assert listed == {a: [], b: ["live"]}
    rolled = run("rollback")
    assert rolled.returncode == 0 and a in rolled.stderr and _latest(db_url, assignments.LIVE).name == a
    assert run("shadow", b).returncode == 0 and _latest(db_url, assignments.SHADOW).name == b
    assert run("shadow", "--off").returncode == 0 and _latest(db_url, assignments.SHADOW).path is None

    (root / b / "labels.json").write_text('["hate", "insult", "spam"]')
    broken = run("activate", b)
    assert broken.returncode == 1 and broken.stderr.strip().splitlines()[-1].startswith("error: ") and "spam" in broken.stderr
    assert "Traceback" not in broken.stderr and _latest(db_url, assignments.LIVE).name == a  # nothing changed
    missing = run("activate", "no-such-model")
    assert missing.returncode == 2 and "no model dir 'no-such-model'" in missing.stderr


def test_admin_page_sets_site_thresholds_keys_with_sites_and_models(db_url: str, tiny_model_dir: Path, second_tiny_model_dir: Path,
                                                                     tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from serving.accounts import Role
    from serving.api import create_app
    from tests.storage.test_moderation_web import _csrf, _login
    from threadguard.settings import Settings

    root = tmp_path / "models"
    root.mkdir()
    for source in (tiny_model_dir, second_tiny_model_dir):
        shutil.copytree(source, root / source.name)
    settings = Settings(model_dir=root / tiny_model_dir.name, models_root=root, database_url=db_url, device="cpu", site_thresholds_seconds=0)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        _login(client, "root", Role.admin)
        page = client.get("/admin").text
        assert second_tiny_model_dir.name in page and 'action="/admin/thresholds"' in page
        csrf = _csrf(client)
        assert client.post("/admin/thresholds", data={"site": "forum-a", "label": "insult", "review": 0, "reject": 0, "csrf": csrf}).status_code == 303
        bad = client.post("/admin/thresholds", data={"site": "forum-a", "label": "insult", "review": 0.9, "reject": 0.1, "csrf": csrf})
        assert bad.status_code == 422 and "review <= reject" in bad.json()["detail"][0]["msg"]
        created = client.post("/admin/keys", data={"name": "forum-a-backend", "site": "forum-a", "csrf": csrf})
        key = created.text.split('id="new-key">')[1].split("<")[0]
        scored = client.post("/v1/score", json={"body": "Thanks for the chart."}, headers={"Authorization": f"Bearer {key}"}).json()
        assert scored["decision"] == "reject" and scored["thresholds"]["site"] == "forum-a"
        assert client.post("/admin/models", data={"action": "activate", "name": second_tiny_model_dir.name, "csrf": csrf}).status_code == 303
        for _ in range(100):  # the page wakes this replica's watcher: it switches at once, not at the next poll
            if client.get("/readyz").json()["model"]["name"] == second_tiny_model_dir.name:
                break
            time.sleep(0.05)
        assert client.get("/readyz").json()["model"]["name"] == second_tiny_model_dir.name
        broken = client.post("/admin/models", data={"action": "activate", "name": "no-such-dir", "csrf": csrf})
        assert broken.status_code == 422 and "no model dir" in broken.json()["detail"][0]["msg"]
