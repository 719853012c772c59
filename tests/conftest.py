"""Shared fixtures: paths, a tiny labelled set, a tiny model dir trained once per session in seconds."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from labels.sets import write_jsonl
from tests.fixtures.tiny_sets import tiny_rows
from threadguard.settings import PROJECT_ROOT
from training.config import TrainConfig

SHARED = PROJECT_ROOT.parent / "shared"
DATASETS = SHARED / "datasets"
SEEDS = SHARED / "seeds"

needs_shared = pytest.mark.skipif(not DATASETS.is_dir(), reason="../shared/datasets is not beside the checkout")


@pytest.fixture(scope="session")
def tiny_set_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tiny.jsonl"
    write_jsonl(tiny_rows(), path)
    return path


def tiny_config(path: Path, **extra: object) -> TrainConfig:
    """A training config over the tiny set: small vocabularies, no public corpora."""
    data = {
        "name": "tiny",
        "seed": 3,
        "data": {"sources": [{"path": str(path), "name": "tiny", "off_topic_pairs": True}], "eval_corpora": [], "seed_set": "labels/data/seed.jsonl"},
        "linear": {"word_max_features": 2000, "char_max_features": 4000, "min_df": 1, "C": {"hate": 10, "insult": 10, "off_topic": 10}},
    }
    data.update(extra)
    return TrainConfig.model_validate(data)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_set_path: Path) -> Path:
    from training.pipeline import train_and_export

    root = tmp_path_factory.mktemp("models")
    return train_and_export(tiny_config(tiny_set_path), datasets_dir=DATASETS, models_root=root, make_current=True, progress=False)


@pytest.fixture(scope="session")
def second_tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_set_path: Path) -> Path:
    """Another tiny linear model (its own name and weights): what a model swap swaps to."""
    from training.pipeline import train_and_export

    root = tmp_path_factory.mktemp("models_b")
    config = tiny_config(tiny_set_path, name="tinyb", seed=4)
    return train_and_export(config, datasets_dir=DATASETS, models_root=root, make_current=False, progress=False)


@pytest.fixture(scope="session")
def tiny_scorer(tiny_model_dir: Path):
    from serving.model import open_scorer

    return open_scorer(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def tiny_encoder_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.fixtures.tiny_encoder import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("encoder"))


def tiny_transformer_config(path: Path, encoder: Path, **transformer: object) -> TrainConfig:
    """A transformer config over the tiny set and the tiny 2-layer encoder: seconds on CPU."""
    # int8 smoothing, per-token activations and outlier channels on, as training/configs/minilm.toml has them, so the tiny model's int8
    # file goes the default's way
    settings = {"base_model": str(encoder), "max_steps": 60, "batch_size": 16, "eval_every": 20, "learning_rate": 1e-3, "max_length": 64,
                "int8_smoothing_alpha": 0.65, "int8_activations": "per_token", "int8_outlier_channels": 4}
    settings.update(transformer)
    return TrainConfig.model_validate({
        "name": "tinytf", "kind": "transformer", "seed": 3,
        "data": {"sources": [{"path": str(path), "name": "tiny", "off_topic_pairs": True}], "eval_corpora": [], "seed_set": "labels/data/seed.jsonl"},
        "transformer": settings,
    })


@pytest.fixture(scope="session")
def tiny_transformer_dir(tmp_path_factory: pytest.TempPathFactory, tiny_set_path: Path, tiny_encoder_path: Path) -> Path:
    from training.pipeline import train_and_export

    root = tmp_path_factory.mktemp("tfmodels")
    return train_and_export(tiny_transformer_config(tiny_set_path, tiny_encoder_path), datasets_dir=DATASETS, models_root=root, progress=False, device="cpu")


# --- databases: every storage test runs on embedded SQLite and on PostgreSQL at 127.0.0.1:5432 (database `test`) ---
# Each PostgreSQL test gets its own schema (dropped afterwards), so tests never see each other's rows. When the
# server does not answer the PostgreSQL cases skip, unless THREADGUARD_REQUIRE_POSTGRES=1 (set by .ci/run after
# it has started the server), where they fail instead.
PG_URL = os.environ.get("THREADGUARD_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _postgres_answers() -> bool:
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any failure to connect means "not available"
        return False


POSTGRES_UP = _postgres_answers()


@contextmanager
def empty_database(kind: str, folder: Path) -> Iterator[str]:
    """A database URL with an empty schema: a fresh SQLite file in folder, or a fresh PostgreSQL schema."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'tg.db'}"
        return
    if not POSTGRES_UP:
        if os.environ.get("THREADGUARD_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {PG_URL} does not answer")
        pytest.skip(f"PostgreSQL at {PG_URL} does not answer")
    schema = f"tg_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database per test, once on SQLite and once on PostgreSQL."""
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=DATABASES)
def module_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database shared by one test module, once on SQLite and once on PostgreSQL."""
    with empty_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def sessions(db_url: str):  # type: ignore[no-untyped-def]
    from threadguard.db import make_engine, session_factory, upgrade_schema

    engine = make_engine(db_url)
    upgrade_schema(engine)
    yield session_factory(engine)
    engine.dispose()
