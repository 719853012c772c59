"""`threadguard models list / activate / rollback / shadow` on SQLite and PostgreSQL; a broken dir is one error line."""

from __future__ import annotations

import json
import shutil
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
