"""Every storage test runs on embedded SQLite and on the PostgreSQL server at 127.0.0.1:5432 (database `test`).

Each PostgreSQL test gets its own schema (dropped afterwards), so tests never see each other's rows. When
the server does not answer the PostgreSQL cases skip, unless THREADGUARD_REQUIRE_POSTGRES=1 (set by
.ci/run after it has started the server), where they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL with an empty schema: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tg.db'}"
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


@pytest.fixture
def sessions(db_url: str):  # type: ignore[no-untyped-def]
    from threadguard.db import make_engine, session_factory, upgrade_schema

    engine = make_engine(db_url)
    upgrade_schema(engine)
    yield session_factory(engine)
    engine.dispose()
