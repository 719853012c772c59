"""The moderation commands (users, keys, enqueue, labels export, forget, purge) on SQLite and PostgreSQL, and the
whole feedback loop: decisions → export → retrain → the corrected comment scores differently."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from serving import queue as q
from threadguard.db import make_engine, session_factory
from threadguard.settings import PROJECT_ROOT
from threadguard.tables import ApiKey, QueueItem, StoredComment, User

TTL = dt.timedelta(minutes=5)


def tg(db_url: str, *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {"THREADGUARD_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"} | (env or {})
    return subprocess.run([sys.executable, "-c", "from threadguard.cli import run; run()", *args], check=False, capture_output=True, text=True,
                          input=stdin, cwd=PROJECT_ROOT, env=env, timeout=timeout)


def _one_error_line(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 2 and result.stdout == "", result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and text in lines[-1] and "Traceback" not in result.stderr


@pytest.mark.slow  # a dozen CLI processes
def test_users_and_keys_commands(db_url: str) -> None:
    assert tg(db_url, "users", "add", "ann", "--role", "admin", stdin="a long password\n").returncode == 0
    _one_error_line(tg(db_url, "users", "add", "ann", stdin="another password\n"), "already exists")
    _one_error_line(tg(db_url, "users", "add", "bob", stdin="short\n"), "at least 8")
    _one_error_line(tg(db_url, "users", "add", "bob", "--role", "boss", stdin="a long password\n"), "--role")
    created = tg(db_url, "keys", "create", "--name", "forum")
    assert created.returncode == 0
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("tg_") and len(key) > 30
    engine = make_engine(db_url)
    with session_factory(engine)() as session:
        assert session.scalar(select(User.role).where(User.name == "ann")) == "admin"
        assert session.scalar(select(func.count()).select_from(ApiKey)) == 1
        assert key not in session.scalar(select(ApiKey.key_sha256))  # type: ignore[operator]
    engine.dispose()
    _one_error_line(tg(db_url, "keys", "create", "--name", "forum"), "already exists")


@pytest.mark.slow  # CLI processes that each load the model
def test_enqueue_export_forget_purge_commands(db_url: str, tiny_model_dir: Path, tmp_path: Path) -> None:
    rows = [
        {"id": "e1", "thread_id": "t1", "author": "mallory", "body": "you are a pathetic idiot and a moron", "article_title": "Trade talks"},
        {"id": "e2", "thread_id": "t1", "author": "alice", "body": "those vermin should be deported, subhuman scum", "article_title": "Trade talks"},
        {"id": "e3", "thread_id": "t1", "author": "alice", "body": "tariffs hurt farmers in the midwest", "article_title": "Trade talks"},
    ]
    source = tmp_path / "thread.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labelled = tg(db_url, "enqueue", str(source), "--model", str(tiny_model_dir), "--labelling", "--device", "cpu")
    assert labelled.returncode == 0 and "queued 3" in labelled.stderr
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    with sessions() as session:
        assert q.counts(session)["labelling"] == 3
        item = session.scalar(select(QueueItem).where(QueueItem.comment_id == "e1"))
        assert q.claim(session, item.id, "ann", ttl=TTL)  # type: ignore[union-attr]
        q.decide(session, item.id, "ann", q.Action.relabel, {"insult": 1})  # type: ignore[union-attr]
    out = tmp_path / "feedback.jsonl"
    exported = tg(db_url, "labels", "export", "--since", dt.date.today().isoformat(), "--output", str(out))
    assert exported.returncode == 0 and "wrote 1 decisions" in exported.stderr
    row = json.loads(out.read_text())
    assert row["id"] == "e1" and row["insult"] == 1 and row["labeller"] == "ann" and row["labelled_at"]
    _one_error_line(tg(db_url, "labels", "export", "--since", "last week", "--output", str(out)), "--since")
    forgot = tg(db_url, "forget", "--author", "mallory")
    assert forgot.returncode == 0 and "erased 1 comments" in forgot.stderr
    assert tg(db_url, "purge", "--days", "0").returncode == 0
    with sessions() as session:
        assert session.get(StoredComment, "e1") is None
        assert all(c.body is None for c in session.scalars(select(StoredComment)))
    engine.dispose()


@pytest.mark.slow
def test_feedback_loop_changes_the_corrected_comments_score(db_url: str, tiny_set_path: Path, tiny_scorer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from labels.feedback import export_decisions
    from labels.sets import write_jsonl
    from serving.model import open_scorer
    from serving.schemas import CommentIn
    from serving.scoring import score_rows
    from tests.conftest import DATASETS, tiny_config
    from training.pipeline import train_and_export

    comment = CommentIn(id="fb1", body="your argument is a soggy turnip, flimsy sprout", article_title="Trade talks", thread_id="fbt")
    before = score_rows(tiny_scorer, [comment], ["fb1"])[0]
    engine = make_engine(db_url)
    from threadguard.db import upgrade_schema

    upgrade_schema(engine)
    with session_factory(engine)() as session:
        q.enqueue(session, comment, before, tiny_scorer.thresholds, labelling=True)
        session.commit()
        item = session.scalar(select(QueueItem).where(QueueItem.comment_id == "fb1"))
        assert q.claim(session, item.id, "ann", ttl=TTL)  # type: ignore[union-attr]
        q.decide(session, item.id, "ann", q.Action.relabel, {"insult": 1})  # type: ignore[union-attr]
        feedback = export_decisions(session).rows
    engine.dispose()
    path = tmp_path / "feedback.jsonl"
    write_jsonl([feedback[0].model_copy(update={"split": "train"})], path)  # the exported split is a thread hash; train on it here
    config = tiny_config(tiny_set_path, data={"sources": [{"path": str(tiny_set_path), "name": "tiny", "off_topic_pairs": True},
                                                          {"path": str(path), "name": "feedback", "weight": 50}],
                                              "eval_corpora": [], "seed_set": None})
    retrained = open_scorer(train_and_export(config, datasets_dir=DATASETS, models_root=tmp_path / "models", progress=False), device="cpu")
    after = score_rows(retrained, [comment], ["fb1"])[0]
    assert after.scores["insult"] > before.scores["insult"] + 0.1
