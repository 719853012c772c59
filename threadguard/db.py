"""Engine + session factory from a URL (SQLite default, PostgreSQL); Alembic migrations bring the schema to head."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FIRST_REVISION = "0001"


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL, synchronous=FULL and foreign keys so committed writes survive a crash."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(connection=None):  # type: ignore[no-untyped-def]
    """An Alembic Config pointing at threadguard/migrations, optionally bound to a live connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade_schema(engine: Engine) -> None:
    """Run every migration the database lacks (idempotent; safe for several replicas starting at once on PostgreSQL)."""
    import logging

    from alembic import command

    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one INFO line per plugin at every start
    with engine.begin() as connection:
        tables = set(inspect(connection).get_table_names())
        config = alembic_config(connection)
        if "model_activations" in tables and "alembic_version" not in tables:
            # A database from before migrations existed (create_all made model_activations only): adopt it.
            command.stamp(config, FIRST_REVISION)
        command.upgrade(config, "head")




def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to the engine; callers commit explicitly."""
    return sessionmaker(engine, expire_on_commit=False)
