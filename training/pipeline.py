"""The train command's pipeline: assemble data, fit, choose thresholds, evaluate through serving, export."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np

from labels.sets import sha256_of_rows
from serving.model import Scorer, open_scorer
from threadguard.artifact import EvalSetMetrics, LabelThresholds, Metrics, ModelConfig, point_current, write_model_dir
from threadguard.errors import ArtifactError
from threadguard.settings import PROJECT_ROOT
from training.card import render_card
from training.config import TrainConfig
from training.data import DataBundle, NamedSet, assemble
from training.evaluate import evaluate, label_matrix
from training.fit import LinearBaseline
from training.thresholds import choose_thresholds
from labels.schema import LABELS

log = logging.getLogger(__name__)

LIBRARIES = ("scikit-learn", "numpy", "scipy", "pydantic")


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def score_sets(scorer: Scorer, sets: list[NamedSet], thresholds: dict[str, LabelThresholds]) -> Metrics:
    """Metrics of every named set, scored through the serving Scorer."""
    out = []
    for named in sets:
        probs = scorer.predict_proba(named.rows)
        labels = evaluate(label_matrix(named.rows), probs, thresholds)
        out.append(EvalSetMetrics(name=named.name, sha256=sha256_of_rows(named.rows), rows=len(named.rows), labels=labels))
    return Metrics(eval_sets=out)


def pick_thresholds(scorer: Scorer, validation: list, reject_precision: float) -> dict[str, LabelThresholds]:
    """Per-label thresholds on the pooled validation rows that annotate each label."""
    probs = scorer.predict_proba(validation)
    y = label_matrix(validation)
    out = {}
    for j, label in enumerate(LABELS):
        mask = ~np.isnan(y[:, j])
        out[label.value] = choose_thresholds(y[mask, j].astype(int), probs[mask, j], reject_precision=reject_precision)
    return out


def _identity(config: TrainConfig, bundle: DataBundle) -> str:
    key = json.dumps(config.model_dump(mode="json"), sort_keys=True) + "".join(r.sha256 for r in bundle.records)
    return hashlib.sha256(key.encode()).hexdigest()[:7]


def train_and_export(config: TrainConfig, *, datasets_dir: Path, models_root: Path, make_current: bool = False, progress: bool = True) -> Path:
    """Run one training config end to end and return the new model dir."""
    bundle = assemble(config, datasets_dir, progress=progress)
    log.info("training on %d rows, validating on %d, %d test sets", len(bundle.train), len(bundle.validation), len(bundle.tests))
    estimator = LinearBaseline(config.linear, seed=config.seed, progress=progress).fit(bundle.train, bundle.train_weights)
    files = estimator.model_.to_files()

    now = dt.datetime.now(dt.UTC)
    sha7 = _identity(config, bundle)
    name = f"tg-{config.name}-{now:%Y%m%d}-{sha7}"
    model_config = ModelConfig(
        name=name,
        version=f"{now:%Y%m%d}-{sha7}",
        kind=config.kind,
        created_at=now.isoformat(timespec="seconds"),
        git_sha=_git_sha(),
        backend=estimator.model_.params,
        train_config=config.model_dump(mode="json"),
        library_versions=_versions(),
        data=bundle.records,
    )
    dest = models_root / name
    if dest.exists():
        raise ArtifactError(f"{dest} already exists (same config and data today); remove it to retrain")

    # Thresholds and metrics are computed by the serving code on a staged copy of the very files shipped.
    staging = models_root / f".staging-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    placeholder = {label.value: LabelThresholds(review=0.5, reject=1.0) for label in LABELS}
    write_model_dir(staging, config=model_config, labels=[l.value for l in LABELS], thresholds=placeholder, metrics=Metrics(eval_sets=[]), card="staging\n", files=files)
    try:
        scorer = open_scorer(staging, device="cpu")
        thresholds = pick_thresholds(scorer, bundle.validation, config.thresholds.reject_precision)
        metrics = score_sets(scorer, bundle.tests, thresholds)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_model_dir(dest, config=model_config, labels=[l.value for l in LABELS], thresholds=thresholds, metrics=metrics, card=render_card(model_config, thresholds, metrics), files=files)
    if make_current:
        point_current(models_root, dest)
    log.info("exported %s", dest)
    return dest


def evaluate_model_dir(model_dir: Path, *, datasets_dir: Path, device: str = "auto", progress: bool = True) -> tuple[Metrics, list[str]]:
    """Rebuild the model's test sets from its own config, score them through serving, and compare data hashes."""
    scorer = open_scorer(model_dir, device=device)
    config = TrainConfig.model_validate(scorer.model_dir.config.train_config)
    bundle = assemble(config, datasets_dir, progress=progress)
    metrics = score_sets(scorer, bundle.tests, scorer.thresholds)
    recorded = {(r.name, r.split): r.sha256 for r in scorer.model_dir.config.data if r.role == "test"}
    warnings = []
    for eval_set in metrics.eval_sets:
        name = eval_set.name.removesuffix("/test")
        expected = recorded.get((name, "test"))
        if expected and expected != eval_set.sha256:
            warnings.append(f"{eval_set.name}: data differs from the model card (sha256 {eval_set.sha256[:12]} vs {expected[:12]})")
    return metrics, warnings
