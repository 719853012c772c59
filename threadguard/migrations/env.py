"""Alembic environment: runs on the connection threadguard.db.upgrade_schema hands over (no alembic.ini needed)."""

from __future__ import annotations

from alembic import context

from threadguard.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
