"""Settings (pydantic-settings, THREADGUARD_ prefix) + cached get_settings()."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

Device = Literal["auto", "cpu", "cuda"]


class Settings(BaseSettings):
    """Runtime settings, read once at the edge (CLI, create_app) and passed down."""

    model_config = SettingsConfigDict(env_prefix="THREADGUARD_", env_file=".env", extra="ignore")

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'threadguard.db'}"
    model_dir: Path = PROJECT_ROOT / "models" / "current"
    datasets_dir: Path = PROJECT_ROOT.parent / "shared" / "datasets"
    device: Device = "auto"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = False
    max_body_bytes: int = 1_000_000
    max_batch: int = 256
    max_comment_chars: int = 20_000
    claim_seconds: int = 300  # a moderator's claim on a queue item lapses after this long
    retention_days: int = 90  # stored comment text is erased after this many days (scores, decisions, labels stay)
    retention_check_seconds: int = 3600  # how often the service sweeps for text past retention
    secure_cookies: bool = False  # set true behind HTTPS so session cookies are never sent in clear


@lru_cache
def get_settings() -> Settings:
    """The process's settings (cached; tests build their own Settings instead)."""
    return Settings()
