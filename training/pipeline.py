"""The train command's pipeline: assemble data, fit, choose thresholds, evaluate through serving, export."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import replace
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from labels.schema import LABELS, Label, LabelledComment
from labels.sets import sha256_of_rows
from serving.model import Decision, Scorer, open_scorer
from threadguard.artifact import (
    REQUIRED_FILES,
    EvalSetMetrics,
    LabelThresholds,
    Metrics,
    ModelConfig,
    point_current,
    review_thresholds,
    write_model_dir,
)
from threadguard.errors import ArtifactError
from threadguard.settings import PROJECT_ROOT
from training.card import render_card
from training.config import TrainConfig, TransformerConfig
from training.data import DataBundle, NamedSet, assemble
from training.evaluate import evaluate, label_matrix
from training.export import Int8Recipe
from training.fit import LinearBaseline
from training.thresholds import choose_thresholds

log = logging.getLogger(__name__)

CALIBRATION_KEYS = ("temperature", "bias", "calibration")  # what finalize fits anew in a dir's backend params
LIBRARIES = ("scikit-learn", "numpy", "scipy", "pydantic", "torch", "transformers", "onnxruntime", "tokenizers")


def _git_sha() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], cwd=PROJECT_ROOT, check=False, capture_output=True, text=True, timeout=5)
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


def pick_thresholds(scorer: Scorer, validation: list, reject_precision: float, max_review_rate: float = 1.0) -> dict[str, LabelThresholds]:
    """Per-label thresholds on the pooled validation rows that annotate each label."""
    probs = scorer.predict_proba(validation)
    y = label_matrix(validation)
    out = {}
    for j, label in enumerate(LABELS):
        mask = ~np.isnan(y[:, j])
        out[label.value] = choose_thresholds(y[mask, j].astype(int), probs[mask, j], reject_precision=reject_precision, max_review_rate=max_review_rate)
    return out


def _identity(config: TrainConfig, bundle: DataBundle) -> str:
    key = json.dumps(config.model_dump(mode="json"), sort_keys=True) + "".join(r.sha256 for r in bundle.records)
    return hashlib.sha256(key.encode()).hexdigest()[:7]


def model_dir_name(config: TrainConfig, bundle: DataBundle, *, tag: str = "", made_from: Sequence[str] = (), now: dt.datetime | None = None) -> str:
    """The name a run's model dir gets: the config's name, `tag` (how it was derived), the day, and a hash of the config and
    data. A derived dir's hash also covers what it was made from (`made_from`: a soup's runs, a refit's or a recalibration's
    source and options), so two of one config made the same day from different sources get two names."""
    now = now or dt.datetime.now(dt.UTC)
    sha7 = hashlib.sha256((_identity(config, bundle) + tag + "".join(made_from)).encode()).hexdigest()[:7] if tag else _identity(config, bundle)
    return f"tg-{config.name}{tag}-{now:%Y%m%d}-{sha7}"


def refuse_existing(models_root: Path, name: str) -> None:
    """A run whose dir would already exist is refused: by finalize, and before any fitting by each command that knows the
    name once its data is read, so a repeated command fails in seconds rather than after a 40-minute fine-tune."""
    dest = models_root / name
    if dest.exists():
        raise ArtifactError(f"{dest} already exists (same config, data and source today); remove it, or pass another --models-dir")


def check_run_name(models_root: Path, config: TrainConfig, bundle: DataBundle, *, tag: str = "", made_from: Sequence[str] = ()) -> dt.datetime:
    """Refuse, before any fitting, a run whose model dir already exists (refuse_existing), and return the time its name is
    dated by: the command passes it to finalize as `named_at`, so the name written is the name checked."""
    named_at = dt.datetime.now(dt.UTC)
    refuse_existing(models_root, model_dir_name(config, bundle, tag=tag, made_from=made_from, now=named_at))
    return named_at


def _fit_linear(config: TrainConfig, bundle: DataBundle, progress: bool) -> tuple[dict[str, bytes], dict]:
    estimator = LinearBaseline(config.linear, seed=config.seed, progress=progress).fit(bundle.train, bundle.train_weights)
    return estimator.model_.to_files(), estimator.model_.params


def _stops_per_source(config: TrainConfig, bundle: DataBundle) -> bool:
    """Whether early stopping scores a group per validation source (else the thresholds' rows as one group)."""
    return bool(config.transformer.stopping_rows_per_source and bundle.validation_sets)


def stopping_group_names(config: TrainConfig, bundle: DataBundle) -> list[str]:
    """The names of stopping_rows' groups in its numbering, so the int8-consistency guard logs "olid/insult", not "2/insult"."""
    return [named.name for named in bundle.validation_sets] if _stops_per_source(config, bundle) else ["validation"]


def stopping_rows(config: TrainConfig, bundle: DataBundle) -> tuple[list, list[int], list[float]]:  # type: ignore[type-arg]
    """The rows early stopping scores, a group index per row, and each group's weight.

    With transformer.stopping_rows_per_source = 0: the thresholds' validation rows, one group. Otherwise a seeded
    sample of up to that many rows of every source's validation split, one group per source; the report_first
    (in-domain) sources share stopping_first_weight and the others share the rest.
    """
    import random

    tcfg = config.transformer
    if not _stops_per_source(config, bundle):
        return list(bundle.validation), [0] * len(bundle.validation), [1.0]
    rng = random.Random(config.seed)
    first = set(config.data.report_first)
    sets = [(named, rng.sample(named.rows, min(len(named.rows), tcfg.stopping_rows_per_source))) for named in bundle.validation_sets]
    n_first = sum(named.name in first for named, _ in sets)
    n_rest = len(sets) - n_first
    share_first = tcfg.stopping_first_weight if n_first and n_rest else float(n_first > 0)
    rows: list = []  # type: ignore[type-arg]
    groups: list[int] = []
    weights: list[float] = []
    for g, (named, sample) in enumerate(sets):
        rows += sample
        groups += [g] * len(sample)
        weights.append(share_first / n_first if named.name in first else (1 - share_first) / n_rest)
    log.info("early stopping scores %d validation rows from %d sources", len(rows), len(sets))
    return rows, groups, weights


class TransformerExport(NamedTuple):
    """A fitted bi-encoder's files and the backend params that describe them, as training exports them."""

    files: dict[str, bytes]
    params: dict[str, Any]  # architecture, encoder, context budget, placeholder temperatures (finalize calibrates)
    int8: dict[str, Any]  # how model.int8.onnx was made from model.onnx (int8_record)


def export_transformer(model, base_path: str, config: TrainConfig, fit_on: DataBundle) -> TransformerExport:  # type: ignore[no-untyped-def]
    """Export a fitted bi-encoder (`model.encoder`, `model.head_state()`) by the config's recipe, its int8 file calibrated
    on texts of `fit_on` (the bundle as the model reads it): what training does, and what a soup of runs does
    (training/soup.py)."""
    from training.export import transformer_files

    tcfg = config.transformer
    calibration = int8_calibration_texts(config, fit_on)
    recipe = Int8Recipe.of(tcfg)
    files = transformer_files(model, base_path, recipe=recipe, calibration_texts=calibration, max_length=tcfg.max_length,
                              batch_size=tcfg.eval_batch_size)
    params = {
        "architecture": "biencoder-meanpool", "base_model": tcfg.base_model, "max_length": tcfg.max_length, "batch_size": tcfg.eval_batch_size,
        "context": {"title_chars": tcfg.title_chars, "parent_chars": tcfg.parent_chars, "lead_chars": tcfg.lead_chars},
        "temperature": {label.value: 1.0 for label in LABELS},
    }
    return TransformerExport(files, params, int8_record(recipe, calibration))


def in_domain_source_key(config: TrainConfig, bundle: DataBundle) -> str | None:
    """The source key (finetune.source_key) of the first data.report_first source's rows: whose bias a source-bias run
    folds into the heads. Read off that source's validation rows, so a set whose rows carry another source name than
    the config's `name` (rows "forum:thread-1" under `name = "mysite"`) still folds its own bias."""
    from collections import Counter

    from training.finetune import source_key

    for name in config.data.report_first:
        rows = next((named.rows for named in bundle.validation_sets if named.name == name), [])
        if rows:
            return Counter(source_key(row) for row in rows).most_common(1)[0][0]
    return None


def _fit_transformer(config: TrainConfig, bundle: DataBundle, *, device: str, checkpoint_dir: Path | None, progress: bool) -> tuple[dict[str, bytes], dict] | None:
    from training.finetune import fine_tune

    tcfg = config.transformer
    rows, groups, weights = stopping_rows(config, bundle)
    result = fine_tune(tcfg, bundle.train, bundle.train_weights, rows, seed=config.seed, device=device, checkpoint_dir=checkpoint_dir, progress=progress,
                       valid_groups=groups, group_weights=weights, group_names=stopping_group_names(config, bundle),
                       serve_source=in_domain_source_key(config, bundle))
    if result.model is None:
        return None  # not rank 0 of a distributed run: rank 0 exports
    exported = export_transformer(result.model, result.base_path, config, bundle)
    params = {
        **exported.params, "steps": result.steps, "best_valid_mean_auc": round(result.best_score, 4), "history": result.history,
        "fine_tuned_on": {"device": result.device, "precision": result.precision},
        # transformer.source_bias: what each source's bias learned, and whose the exported heads carry
        **({"source_bias": {"folded": result.folded_source, "biases": result.source_biases,
                            "labels": [label.value for label in tcfg.source_bias_labels]}} if result.source_biases else {}),
        # how model.int8.onnx was made from model.onnx (training/smoothing.py when smoothing_alpha is set, training/token_int8.py
        # for per-token activations)
        "int8": {**exported.int8, "consistency_steps": tcfg.int8_consistency_steps, "consistency_history": result.int8_consistency},
    }
    return exported.files, params


def int8_calibration_texts(config: TrainConfig, bundle: DataBundle) -> list[str]:
    """The texts smoothing's activation ranges, per-token int8's GPTQ rounding and its outlier channels are calibrated
    on (none when the config's int8 reads none)."""
    tcfg = config.transformer
    calibrated = tcfg.int8_smoothing_alpha is not None or tcfg.int8_activations == "per_token"
    return smoothing_texts(bundle.train, tcfg, seed=config.seed) if calibrated else []


def int8_record(recipe: Int8Recipe, calibration: Sequence[str]) -> dict[str, Any]:
    """How model.int8.onnx was made from model.onnx, as config.json's backend.int8 records it."""
    return {**recipe.record(), "calibration_texts": len(calibration)}


def _int8_settings(tcfg: TransformerConfig) -> tuple[Int8Recipe, int]:
    """What makes the int8 file: the recipe, and how many training rows its calibration texts are drawn from."""
    return Int8Recipe.of(tcfg), tcfg.int8_calibration_rows


Int8Change = Literal["none", "fuse", "requantise"]


def _int8_change(config: TrainConfig, recorded: TrainConfig, model_dir: Path) -> Int8Change:
    """How the overrides change the dir's int8 file: not at all; only by fusing its epilogues, which works on the int8
    file itself (training/int8_fusion.py), so a dir that ships int8 only can take it; or by quantising anew from
    model.onnx, refused when the dir holds no fp32 graph to make it from."""
    from serving.transformer import ONNX_FILE

    if config.kind != "transformer":
        return "none"
    (new, new_rows), (old, old_rows) = _int8_settings(config.transformer), _int8_settings(recorded.transformer)
    if (new, new_rows) == (old, old_rows):
        return "none"
    if new_rows == old_rows and new == replace(old, fused_epilogues=True):
        return "fuse"
    if not (model_dir / ONNX_FILE).is_file():
        raise ArtifactError(f"{model_dir} has no {ONNX_FILE} to quantise anew: rebuild its fp32 weights first (README, GPU serving)")
    return "requantise"


def _fused(model_dir: Path, files: dict[str, bytes], params: dict) -> tuple[dict[str, bytes], dict]:
    """The files and params with the dir's model.int8.onnx, epilogues fused (what recalibration does when the only int8
    override turns transformer.int8_fused_epilogues on: _int8_change)."""
    import tempfile

    from serving.transformer import ONNX_INT8_FILE
    from training.int8_fusion import fuse_int8_file

    with tempfile.TemporaryDirectory(prefix="tg-fuse-") as tmp:
        path = Path(tmp) / ONNX_INT8_FILE
        fused = fuse_int8_file(model_dir / ONNX_INT8_FILE, path)
        files = {**files, ONNX_INT8_FILE: path.read_bytes()}
    int8 = {**params.get("int8", {}), "fused_epilogues": True}
    recalibrated = {**params.get("recalibrated", {}), "int8_fused": fused.record()}
    return files, {**params, "int8": int8, "recalibrated": recalibrated}


def _requantised(config: TrainConfig, bundle: DataBundle, model_dir: Path, files: dict[str, bytes], params: dict) -> tuple[dict[str, bytes], dict]:
    """The files and params with model.int8.onnx made anew from the dir's model.onnx by the config's int8 settings (what
    recalibration does when the overrides change them: _int8_change)."""
    import tempfile

    from serving.transformer import ONNX_FILE, ONNX_INT8_FILE, TOKENIZER_FILE
    from training.export import write_int8

    tcfg = config.transformer
    recipe = Int8Recipe.of(tcfg)
    calibration = int8_calibration_texts(config, bundle)
    with tempfile.TemporaryDirectory(prefix="tg-requant-") as tmp:
        dest = Path(tmp) / ONNX_INT8_FILE
        write_int8(model_dir / ONNX_FILE, dest, tokenizer=model_dir / TOKENIZER_FILE, recipe=recipe, calibration_texts=calibration,
                   max_length=tcfg.max_length, batch_size=tcfg.eval_batch_size)
        files = {**files, ONNX_INT8_FILE: dest.read_bytes()}
    previous = params.get("int8", {})
    recalibrated = {**params.get("recalibrated", {}), "int8_requantised": True}
    return files, {**params, "int8": {**previous, **int8_record(recipe, calibration)}, "recalibrated": recalibrated}


def smoothing_texts(rows: list[LabelledComment], tcfg: TransformerConfig, *, seed: int) -> list[str]:
    """Distinct comment, article and parent texts of a seeded sample of training rows, clipped as the scorer clips them:
    the inputs whose activation ranges int8 smoothing is calibrated on."""
    import random

    from serving.context import ContextBudget, context_parts

    budget = ContextBudget(title_chars=tcfg.title_chars, parent_chars=tcfg.parent_chars, lead_chars=tcfg.lead_chars)
    sample = random.Random(seed).sample(rows, min(tcfg.int8_calibration_rows, len(rows)))
    parts = [context_parts(row, budget) for row in sample]
    return list(dict.fromkeys(text for p in parts for text in (p.comment, p.article, p.parent) if text))


def calibrate(scorer: Scorer, validation: list) -> dict[str, dict[str, float]]:
    """Fit per-label temperature and bias on validation logits, set them on the scorer, report ECE before/after."""
    from training.calibration import expected_calibration_error, fit_temperature_and_bias

    backend = scorer.backend
    # Through the scorer's normalisation, as every served comment goes: raw validation text would fit the temperature to
    # inputs the model never sees in service.
    # First windows only: a long comment's later windows count through a gate on the calibrated score (serving/windows.py),
    # which needs the calibration first, and what is fitted is each window's own scale.
    raw = backend.logits(scorer.as_trained(validation), windows=False)  # type: ignore[attr-defined]
    y = label_matrix(validation)
    report: dict[str, dict[str, float]] = {}
    temperatures, biases = [], []
    for j, label in enumerate(LABELS):
        mask = ~np.isnan(y[:, j])
        t, b = fit_temperature_and_bias(raw[mask, j], y[mask, j])
        before = expected_calibration_error(1 / (1 + np.exp(-raw[mask, j])), y[mask, j])
        after = expected_calibration_error(1 / (1 + np.exp(-(raw[mask, j] / t + b))), y[mask, j])
        report[label.value] = {"temperature": round(t, 4), "bias": round(b, 4), "ece_before": round(before, 4), "ece_after": round(after, 4), "n": int(mask.sum())}
        # The rounded values the model dir records: the scorer in hand then scores exactly as the exported model will.
        temperatures.append(report[label.value]["temperature"])
        biases.append(report[label.value]["bias"])
    backend.temperatures = np.asarray(temperatures, dtype=np.float32)  # type: ignore[attr-defined]
    backend.biases = np.asarray(biases, dtype=np.float32)  # type: ignore[attr-defined]
    return report


def train_and_export(
    config: TrainConfig, *, datasets_dir: Path, models_root: Path, make_current: bool = False, progress: bool = True,
    device: str = "auto", checkpoint_dir: Path | None = None,
) -> Path | None:
    """Run one training config end to end and return the new model dir (None on non-zero ranks of a distributed run).

    The functional suite (tests/functional) is run on the exported model and its pass rates go into the model card.
    """
    from serving.model import resolve_device
    from training.precision import refuse_unrunnable

    resolved = resolve_device(device) if config.kind == "transformer" else "cpu"  # the linear model trains on the CPU
    if config.kind == "transformer":
        refuse_unrunnable(config.transformer.mixed_precision, resolved)  # before the data loads
    bundle = assemble(config, datasets_dir, progress=progress)
    # (only rank 0 of a distributed run writes the dir, so only it checks the name)
    named_at = check_run_name(models_root, config, bundle) if os.environ.get("RANK", "0") == "0" else None
    log.info("training on %d rows, validating on %d, %d test sets", len(bundle.train), len(bundle.validation), len(bundle.tests))
    fit_on = as_the_model_reads(config, bundle)
    if config.kind == "linear":
        files, params = _fit_linear(config, fit_on, progress)
    else:
        fitted = _fit_transformer(config, fit_on, device=resolved, checkpoint_dir=checkpoint_dir, progress=progress)
        if fitted is None:
            return None
        files, params = fitted
    return finalize(config, bundle, files, params, models_root=models_root, make_current=make_current, named_at=named_at)


def functional_summary(scorer: Scorer, thresholds: dict[str, LabelThresholds]) -> dict | None:
    """The functional suite's pass rates for the model card, at 0.5 and at `thresholds`' review thresholds, or None
    when the suite is not beside the code."""
    from training.functional import SUITE, load_suite, run_suite, summary

    if not SUITE.is_file():
        return None
    return summary(run_suite(scorer.predict_proba, load_suite(SUITE), review=review_thresholds(thresholds)))


def as_the_model_reads(config: TrainConfig, bundle: DataBundle) -> DataBundle:
    """The bundle's training and validation rows normalised as the config's model reads text (unchanged without
    text_normalisation): what fine-tuning and int8 calibration see."""
    return normalised_bundle(bundle, repair_spelling=config.spelling_repair) if config.text_normalisation else bundle


def normalised_bundle(bundle: DataBundle, *, repair_spelling: bool = False) -> DataBundle:
    """The training and validation rows as the model will see them; test sets stay raw (the scorer normalises them)."""
    from threadguard.normalise import normalise_comment

    def fix(rows: list) -> list:  # type: ignore[type-arg]
        return [r.model_copy(update=dict(zip(("body", "parent_body"), normalise_comment(r.body, r.parent_body, repair_spelling=repair_spelling),
                                             strict=True))) for r in rows]

    return replace(bundle, train=fix(bundle.train), validation=fix(bundle.validation),
                   validation_sets=[NamedSet(named.name, fix(named.rows)) for named in bundle.validation_sets])


def finalize(
    config: TrainConfig, bundle: DataBundle, files: dict[str, bytes], params: dict, *, models_root: Path, make_current: bool = False, tag: str = "",
    made_from: Sequence[str] = (), named_at: dt.datetime | None = None,
) -> Path:
    """Stage the files, calibrate (transformers), choose thresholds and score the tests through serving, write the dir.
    `named_at` dates the dir's name: the time a command checked that name before fitting (check_run_name), so a run that
    crosses midnight UTC writes the name it checked, not the next day's (default: now)."""
    # How served comments are normalised follows the config, for a trained dir and a recalibrated one (--set spelling_repair=true).
    params = {**params, "text_normalisation": config.text_normalisation, "spelling_repair": config.spelling_repair}
    now = dt.datetime.now(dt.UTC)
    name = model_dir_name(config, bundle, tag=tag, made_from=made_from, now=named_at or now)
    version = name.removeprefix(f"tg-{config.name}{tag}-")
    model_config = ModelConfig(
        name=name,
        version=version,
        kind=config.kind,
        created_at=now.isoformat(timespec="seconds"),
        git_sha=_git_sha(),
        backend=params,
        train_config=config.model_dump(mode="json"),
        library_versions=_versions(),
        data=bundle.records,
    )
    refuse_existing(models_root, name)
    dest = models_root / name

    # Thresholds and metrics are computed by the serving code on a staged copy of the very files shipped.
    staging = models_root / f".staging-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    placeholder = {label.value: LabelThresholds(review=0.5, reject=1.0) for label in LABELS}
    staged_params = without_calibration(params)
    staged_config = model_config.model_copy(update={"backend": staged_params})
    write_model_dir(staging, config=staged_config, labels=[l.value for l in LABELS], thresholds=placeholder, metrics=Metrics(eval_sets=[]), card="staging\n", files=files)
    try:
        scorer = open_scorer(staging, device="cpu")
        if config.kind == "transformer":
            files, staged_params = _with_spam_head(config, bundle, scorer, files, staged_params)
            calibration = calibrate(scorer, bundle.validation)
            params = {**staged_params, "temperature": {k: c["temperature"] for k, c in calibration.items()},
                      "bias": {k: c["bias"] for k, c in calibration.items()}, "calibration": calibration}
            model_config = model_config.model_copy(update={"backend": params})
        thresholds = pick_thresholds(scorer, bundle.validation, config.thresholds.reject_precision, config.thresholds.max_review_rate)
        metrics = score_sets(scorer, bundle.tests, thresholds)
        metrics = metrics.model_copy(update={"functional": functional_summary(scorer, thresholds)})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_model_dir(dest, config=model_config, labels=[l.value for l in LABELS], thresholds=thresholds, metrics=metrics, card=render_card(model_config, thresholds, metrics), files=files)
    if make_current:
        point_current(models_root, dest)
    log.info("exported %s", dest)
    return dest


def _with_spam_head(config: TrainConfig, bundle: DataBundle, scorer: Scorer, files: dict[str, bytes], params: dict) -> tuple[dict[str, bytes], dict]:
    """The files and params with the spam head the config asks for: fitted anew on this encoder with transformer.spam_head
    (so a dir's spam head always matches its encoder and training rows), dropped without it. Set on the scorer in hand,
    so calibration, thresholds and every test score see the heads that ship."""
    from serving.heads import HEADS_FILE
    from training.spam_head import fit_spam_head, validation_rows

    backend = scorer.backend
    params = {k: v for k, v in params.items() if k != "spam_head"}
    if config.transformer.spam_head:
        fit = fit_spam_head(scorer, bundle.train, validation_rows(bundle), seed=config.seed, bare_pitches=config.transformer.spam_bare_pitches)
        backend.heads = backend.heads.with_spam(fit.weight, fit.bias)  # type: ignore[attr-defined]
        params["spam_head"] = fit.report()
    elif not backend.heads.has_spam:  # type: ignore[attr-defined]
        return files, params
    else:
        backend.heads = backend.heads.with_spam(None, None)  # type: ignore[attr-defined]
    return {**files, HEADS_FILE: backend.heads.to_bytes()}, params  # type: ignore[attr-defined]


def recalibrate_model_dir(model_dir: Path, *, datasets_dir: Path, models_root: Path, make_current: bool = False, overrides: Sequence[str] = ()) -> Path:
    """A new model dir with the same encoder, recalibrated and re-thresholded on the config's validation data; with
    `overrides` of the recorded config (--set transformer.spam_head=true fits a spam head on the same encoder; an override of
    how int8 is made quantises model.int8.onnx anew from model.onnx)."""
    from threadguard.artifact import read_model_dir
    from training.config import config_from_dict

    source = read_model_dir(model_dir, expected_labels=[l.value for l in LABELS])
    config = config_from_dict(source.config.train_config, list(overrides), origin=str(model_dir))
    change = _int8_change(config, TrainConfig.model_validate(source.config.train_config), source.path)  # refused before the data is read
    bundle = assemble(config, datasets_dir, progress=False)
    made_from = [source.config.name]
    named_at = check_run_name(models_root, config, bundle, tag="-recal", made_from=made_from)
    params = {**without_calibration(source.config.backend), "recalibrated": {"from": source.config.name, "overrides": list(overrides)}}
    files = weight_files(source.path)
    if change == "requantise":
        files, params = _requantised(config, as_the_model_reads(config, bundle), source.path, files, params)
    elif change == "fuse":
        files, params = _fused(source.path, files, params)
    return finalize(config, bundle, files, params, models_root=models_root, make_current=make_current, tag="-recal", made_from=made_from,
                    named_at=named_at)


def weight_files(model_dir: Path) -> dict[str, bytes]:
    """Every file of a model dir but the contract files finalize writes anew: weights, tokenizer, ONNX graphs.
    Contract files are top-level only: hf/config.json is the encoder's own config and must be kept."""
    return {p.relative_to(model_dir).as_posix(): p.read_bytes() for p in sorted(model_dir.rglob("*"))
            if p.is_file() and p.relative_to(model_dir).as_posix() not in REQUIRED_FILES}


def without_calibration(params: dict[str, Any]) -> dict[str, Any]:
    """Backend params less what calibration writes (finalize fits it again); text_normalisation and the rest are kept."""
    return {k: v for k, v in params.items() if k not in CALIBRATION_KEYS}


def open_with_test_sets(model_dir: Path, *, datasets_dir: Path, device: str = "auto", progress: bool = True) -> tuple[Scorer, DataBundle]:
    """The model dir's scorer and its data rebuilt from the config it records (test sets as at training time)."""
    scorer = open_scorer(model_dir, device=device)
    config = TrainConfig.model_validate(scorer.model_dir.config.train_config)
    return scorer, assemble(config, datasets_dir, progress=progress)


def evaluate_model_dir(model_dir: Path, *, datasets_dir: Path, device: str = "auto", progress: bool = True) -> tuple[Metrics, list[str]]:
    """Rebuild the model's test sets from its own config, score them through serving, and compare data hashes."""
    return evaluate_opened(*open_with_test_sets(model_dir, datasets_dir=datasets_dir, device=device, progress=progress))


def evaluate_opened(scorer: Scorer, bundle: DataBundle) -> tuple[Metrics, list[str]]:
    """evaluate_model_dir on a scorer and data already in hand."""
    metrics = score_sets(scorer, bundle.tests, scorer.thresholds)
    if scorer.model_dir.metrics.functional is not None:  # a dir exported before the suite existed has none, and keeps none
        metrics = metrics.model_copy(update={"functional": functional_summary(scorer, scorer.thresholds)})
    recorded = {(r.name, r.split): r.sha256 for r in scorer.model_dir.config.data if r.role == "test"}
    warnings = []
    for eval_set in metrics.eval_sets:
        name = eval_set.name.removesuffix("/test")
        expected = recorded.get((name, "test"))
        if expected and expected != eval_set.sha256:
            warnings.append(f"{eval_set.name}: data differs from the model card (sha256 {eval_set.sha256[:12]} vs {expected[:12]})")
    return metrics, warnings


def write_evaluation_report(model_dir: Path, report: Path, *, datasets_dir: Path, compare: list[Path], device: str = "auto") -> None:
    """Score the model (every runtime its dir holds), comparison dirs and peers on the model's test rows."""
    from labels.corpora import CORPORA, corpus_folder, hatecheck_cases
    from serving.transformer import available_runtimes
    from training.report import System, peer_systems, write_report

    scorer, bundle = open_with_test_sets(model_dir, datasets_dir=datasets_dir, device=device, progress=False)
    main = f"{scorer.name} ({getattr(scorer.backend, 'runtime', 'linear')})"
    systems = [System(main, scorer.predict_proba)]
    if scorer.model_dir.config.kind == "transformer":
        held = available_runtimes(scorer.model_dir.path)
        # torch-bf16 is the same weights as torch, a serving option for CPUs with AMX (bench.score_throughput measures it)
        for runtime in sorted(held - {scorer.backend.runtime, "torch-bf16"}):  # type: ignore[attr-defined]
            other = open_scorer(model_dir, device=device, runtime=runtime)
            systems.append(System(f"{scorer.name} ({runtime})", other.predict_proba))
        # a committed default carries int8 only: say so, rather than let the fp32 rows vanish from the report unremarked
        systems += [System(f"{scorer.name} ({runtime})", None, "not in this dir: its full-precision weights are not committed (README: rebuild them)")
                    for runtime in ("onnx", "torch") if runtime not in held]
    for path in compare:
        other = open_scorer(path, device=device)
        name = f"{other.name} ({getattr(other.backend, 'runtime', 'linear')})"
        if any(s.name == name for s in systems):
            name += f" [{path}]"  # the same model twice must stay two rows
        systems.append(System(name, other.predict_proba, trained_on=trained_corpora(other.model_dir.config.train_config)))
    systems += peer_systems()
    cases = hatecheck_cases(corpus_folder("hatecheck", datasets_dir)) if "hatecheck" in CORPORA else None
    header = [
        f"Model `{scorer.name}` ({scorer.model_dir.config.kind}); command: `threadguard evaluate {model_dir} --report {report}"
        + "".join(f" --compare {p}" for p in compare) + "`.",
        "Test splits only (thresholds and calibration were chosen on validation splits); the in-domain set leads.",
    ]
    calibration = scorer.model_dir.config.backend.get("calibration")
    if calibration:
        header += ["", "Calibration on validation (temperature and bias): " + "; ".join(
            f"{k}: T={v['temperature']:.2f}, ECE {v['ece_before']:.3f} → {v['ece_after']:.3f}" for k, v in calibration.items())]

    def held_for_moderator(rows: Sequence[LabelledComment], probs: np.ndarray) -> np.ndarray:
        return np.array([scored.decision != Decision.allow for scored in scorer.decisions(rows, probs)], dtype=bool)

    write_report(report, bundle.tests, systems, main=main, hatecheck=cases, header=header, bias_fprs=neutral_mention_fprs(scorer),
                 hate_review=scorer.thresholds[Label.hate.value].review, held=held_for_moderator)


def trained_corpora(train_config: dict[str, Any]) -> frozenset[str]:
    """The built-in corpora a model dir's recorded config trained on."""
    config = TrainConfig.model_validate(train_config)
    return frozenset(source.corpus for source in config.data.sources if source.corpus)


def neutral_mention_fprs(scorer: Scorer) -> list:  # type: ignore[type-arg]
    """False positives on the functional suite's neutral and positive identity mentions, at 0.5 and at the hate and
    insult review thresholds (empty without the suite)."""
    from training.bias import neutral_fpr
    from training.functional import SUITE, load_suite

    return neutral_fpr(scorer.predict_proba, load_suite(SUITE), review=review_thresholds(scorer.thresholds)) if SUITE.is_file() else []
