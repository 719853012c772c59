"""The model-dir contract: file names, pydantic schemas, write/read/validate, hashes.

Only write_model_dir() creates a model dir (temp dir, then atomic rename) and only read_model_dir()
opens one, validating every JSON file before any weights load. No ML imports here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from threadguard.errors import ArtifactError

CONFIG_FILE = "config.json"
LABELS_FILE = "labels.json"
THRESHOLDS_FILE = "thresholds.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "MODEL_CARD.md"
REQUIRED_FILES = (CONFIG_FILE, LABELS_FILE, THRESHOLDS_FILE, METRICS_FILE, CARD_FILE)


class LabelThresholds(BaseModel):
    """Below review = allow; at or above review = review; at or above reject = reject."""

    model_config = ConfigDict(extra="forbid")

    review: float = Field(ge=0.0, le=1.0)
    reject: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> LabelThresholds:
        if self.reject < self.review:
            raise ValueError(f"reject threshold {self.reject} is below review threshold {self.review}")
        return self


def review_thresholds(thresholds: Mapping[str, LabelThresholds]) -> dict[str, float]:
    """Each label's review threshold: the score from which a comment is sent to a moderator."""
    return {label: t.review for label, t in thresholds.items()}


class DataSetRecord(BaseModel):
    """One data set used to train, tune or evaluate: identity by sha256 of its canonical JSONL."""

    model_config = ConfigDict(extra="forbid")

    name: str
    split: str
    rows: int
    sha256: str
    role: Literal["train", "validation", "test"]
    licence: str | None = None
    source_files: dict[str, str] = Field(default_factory=dict)


class ModelConfig(BaseModel):
    """config.json: what the model is and how it was made."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: str
    kind: Literal["linear", "transformer"]
    created_at: str
    git_sha: str | None = None
    backend: dict[str, Any]
    train_config: dict[str, Any]
    library_versions: dict[str, str]
    data: list[DataSetRecord]


class LabelMetrics(BaseModel):
    """Metrics of one label on one evaluation set; AUCs are None when the set has one class only."""

    model_config = ConfigDict(extra="forbid")

    n: int
    positives: int
    roc_auc: float | None
    pr_auc: float | None
    review: dict[str, float]
    reject: dict[str, float]
    # Expected calibration error of the scores on this set (10 equal-width bins); None in dirs written before it was kept.
    ece: float | None = None
    # Share of rows on the right side of the calibrated 0.5 cut-off; None in dirs written before it was kept.
    accuracy: float | None = None


class EvalSetMetrics(BaseModel):
    """metrics.json entry: one evaluation set."""

    model_config = ConfigDict(extra="forbid")

    name: str
    sha256: str
    rows: int
    labels: dict[str, LabelMetrics]


class Metrics(BaseModel):
    """metrics.json."""

    model_config = ConfigDict(extra="forbid")

    eval_sets: list[EvalSetMetrics]
    # The functional suite (tests/functional) at the 0.5 cut-off: {"overall", "obfuscation", "functionalities": [...]}.
    functional: dict[str, Any] | None = None


@dataclass(frozen=True)
class ModelDir:
    """A validated model directory; weights are loaded by serving.model from `path`."""

    path: Path
    config: ModelConfig
    labels: tuple[str, ...]
    thresholds: dict[str, LabelThresholds]
    metrics: Metrics


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"{path}: missing") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: not valid JSON ({exc})") from exc


def _validate(model: type[BaseModel], data: Any, path: Path) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "root"
        raise ArtifactError(f"{path}: {where}: {first['msg']}") from exc


def read_model_dir(path: Path, *, expected_labels: Sequence[str]) -> ModelDir:
    """Open and validate a model dir; labels.json must equal expected_labels, in order."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"model directory not found: {path}")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ArtifactError(f"{path}: missing {', '.join(missing)}")
    labels = _read_json(path / LABELS_FILE)
    if labels != list(expected_labels):
        raise ArtifactError(f"{path / LABELS_FILE}: expected {list(expected_labels)}, found {labels}")
    raw_thresholds = _read_json(path / THRESHOLDS_FILE)
    if not isinstance(raw_thresholds, dict) or set(raw_thresholds) != set(labels):
        raise ArtifactError(f"{path / THRESHOLDS_FILE}: expected one entry per label {labels}")
    thresholds = {k: _validate(LabelThresholds, v, path / THRESHOLDS_FILE) for k, v in raw_thresholds.items()}
    return ModelDir(
        path=path.resolve(),
        config=_validate(ModelConfig, _read_json(path / CONFIG_FILE), path / CONFIG_FILE),
        labels=tuple(labels),
        thresholds=thresholds,
        metrics=_validate(Metrics, _read_json(path / METRICS_FILE), path / METRICS_FILE),
    )


def write_model_dir(
    dest: Path,
    *,
    config: ModelConfig,
    labels: Sequence[str],
    thresholds: Mapping[str, LabelThresholds],
    metrics: Metrics,
    card: str,
    files: Mapping[str, bytes],
) -> Path:
    """Write a complete model dir next to dest, then rename it into place; an existing dest is refused."""
    dest = Path(dest)
    if dest.exists():
        raise ArtifactError(f"{dest} already exists; a new model is a new directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        contents: dict[str, bytes] = dict(files)
        contents[CONFIG_FILE] = config.model_dump_json(indent=2).encode()
        contents[LABELS_FILE] = json.dumps(list(labels)).encode()
        contents[THRESHOLDS_FILE] = json.dumps({k: v.model_dump() for k, v in thresholds.items()}, indent=2).encode()
        contents[METRICS_FILE] = metrics.model_dump_json(indent=2).encode()
        contents[CARD_FILE] = card.encode()
        for name, data in contents.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)  # e.g. hf/model.safetensors
            (tmp / name).write_bytes(data)
        for folder in [tmp, *[p for p in tmp.rglob("*") if p.is_dir()]]:
            os.chmod(folder, 0o755)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def point_current(models_root: Path, target: Path) -> Path:
    """Make models_root/current a relative symlink to target (atomically replaced)."""
    link = models_root / "current"
    tmp = models_root / ".current.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(target, models_root))
    tmp.replace(link)
    return link
