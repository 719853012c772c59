"""SQLAlchemy tables. Queue items, decisions and users come with the moderation issue."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, Integer, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every threadguard table."""


class ModelActivation(Base):
    """One row each time a service process starts serving a model: which model answered when."""

    __tablename__ = "model_activations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(100))
    model_path: Mapped[str] = mapped_column(Text)
    activated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
