"""Settings (pydantic-settings, THREADGUARD_ prefix) + cached get_settings()."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

Device = Literal["auto", "cpu", "cuda"]
# How a transformer model dir's encoder runs (serving.transformer.choose_runtime); torch-bf16 is never chosen unasked.
Runtime = Literal["onnx-int8", "onnx", "torch", "torch-bf16"]


class Settings(BaseSettings):
    """Runtime settings, read once at the edge (CLI, create_app) and passed down."""

    model_config = SettingsConfigDict(env_prefix="THREADGUARD_", env_file=".env", extra="ignore")

    database_url: str = f"sqlite:///{PROJECT_ROOT / 'threadguard.db'}"
    model_dir: Path = PROJECT_ROOT / "models" / "current"
    models_root: Path = PROJECT_ROOT / "models"  # where `threadguard models activate NAME` looks for NAME
    datasets_dir: Path = PROJECT_ROOT.parent / "shared" / "datasets"
    device: Device = "auto"
    # None: int8 ONNX on CPU, PyTorch fp16 on CUDA, else whatever the dir holds. torch-bf16 reads hf/ in bf16: on a CPU with
    # AMX it matched int8's speed, closer to float32 (docs/benchmarks.md, "bf16 fine-tuning on CPUs with AMX").
    runtime: Runtime | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    log_json: bool = False
    max_body_bytes: int = 1_000_000
    max_batch: int = 256
    max_comment_chars: int = 20_000
    # Dynamic batching: requests are pooled until batch_max_comments comments are waiting or the oldest has waited
    # batch_max_wait_ms, then scored together in one call off the event loop (inference_workers at a time).
    batch_max_comments: int = 64
    batch_max_wait_ms: float = 5.0
    # Two: while one pool is scored the other's responses go out and the next requests are read, so the cores do not
    # idle between pools (one-comment requests at concurrency 32: 112 -> 176 comments/s, docs/benchmarks.md "load")
    inference_workers: int = 2
    # ONNX Runtime intra-op threads per model, and how many row slices a batch runs as on CPU; None = one per core
    inference_threads: int | None = None
    # int8 without saturation on x86 CPUs lacking VNNI (serving.transformer.onnx_session_options): exact, and slower
    # there; false trades that precision for speed. CPUs with VNNI are unaffected either way.
    int8_precision: bool = True
    # A transformer model reads hate, insult and spam past a comment's first max_length tokens (serving/windows.py);
    # false scores the first max_length tokens alone, as before 2026-12-04: faster on long comments, blind past them.
    read_whole_comments: bool = True
    rate_limit_per_minute: int = 0  # requests per API key per minute on /v1/ (0 = no limit); each replica counts its own
    model_poll_seconds: float = 5.0  # how often a replica checks the database for a newly activated or shadow model
    shadow_backlog: int = 1024  # comments waiting for the shadow model beyond this are skipped (counted in /metrics)
    language_min_confidence: float = 0.8  # a comment is marked non-English only when language ID is at least this sure
    claim_seconds: int = 300  # a moderator's claim on a queue item lapses after this long
    retention_days: int = 90  # stored comment text is erased after this many days (scores, decisions, labels stay)
    retention_check_seconds: int = 3600  # how often the service sweeps for text past retention
    coral_signing_secrets: str = ""  # comma-separated; several while Coral rotates its signing secret
    coral_approve_allowed: bool = False  # answer APPROVED for allowed comments (default: 204, leaving Coral's own pre-moderation to decide)
    site_thresholds_seconds: float = 5.0
    api_key_cache_seconds: float = 5.0  # valid API keys are cached this long per replica (a revoked key works up to this long)  # how long a replica caches per-site thresholds
    secure_cookies: bool = False  # set true behind HTTPS so session cookies are never sent in clear


    @property
    def coral_secrets(self) -> list[str]:
        return [part.strip() for part in self.coral_signing_secrets.split(",") if part.strip()]


@lru_cache
def get_settings() -> Settings:
    """The process's settings (cached; tests build their own Settings instead).

    A malformed THREADGUARD_* value is a ConfigError naming the variable, so the CLI prints one line and exits 2
    instead of pydantic's multi-line report."""
    from pydantic import ValidationError

    from threadguard.errors import ConfigError

    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "THREADGUARD_" + "_".join(str(part) for part in first["loc"]).upper()
        raise ConfigError(f"{name}: {first['msg']} (got {first.get('input')!r})") from exc
