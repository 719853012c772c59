"""Scorer: open a model dir, score batches, turn scores into decisions with the dir's thresholds."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import numpy as np

from labels.schema import LABELS, Label
from serving.linear import HasContext, LinearModel
from threadguard.artifact import LabelThresholds, ModelDir, read_model_dir
from threadguard.errors import ArtifactError

log = logging.getLogger(__name__)


class Decision(StrEnum):
    """What a forum should do with a comment."""

    allow = "allow"
    review = "review"
    reject = "reject"


class Backend(Protocol):
    """What the Scorer needs of a model backend."""

    def predict_proba(self, items: Sequence[HasContext]) -> np.ndarray: ...


@dataclass(frozen=True)
class Scored:
    """Scores of one comment (LABELS order in `scores`), its decision, and the labels the decision was made from."""

    scores: dict[Label, float]
    decision: Decision
    judged: tuple[Label, ...] = tuple(LABELS)


def judged_labels(item: HasContext, *, pitches_alone: bool = False) -> tuple[Label, ...]:
    """The labels whose thresholds decide this comment. off_topic means "unrelated to the article or thread", so it is
    judged only when the article (its title or text) comes with the comment: without one, the off_topic head, which
    never trained on a comment without its article, scores ordinary comments near its review threshold and would send
    every context-free comment to review. The score is still returned.

    `pitches_alone`: the model scores off_topic without an article by its spam head alone (serving/transformer.py), and a
    pitch is off-topic under any story, so off_topic is judged then too."""
    if item.article_title or item.article_text or pitches_alone:
        return tuple(LABELS)
    return tuple(label for label in LABELS if label != Label.off_topic)


def decide(scores: dict[Label, float], thresholds: dict[str, LabelThresholds], judged: Sequence[Label] | None = None) -> Decision:
    """reject if any judged label (all, unless `judged` says which) reaches its reject threshold, review if any reaches its
    review threshold."""
    labels = list(scores) if judged is None else [label for label in scores if label in judged]
    if any(scores[label] >= thresholds[label.value].reject for label in labels):
        return Decision.reject
    if any(scores[label] >= thresholds[label.value].review for label in labels):
        return Decision.review
    return Decision.allow


@dataclass(frozen=True)
class ContextText:
    """A comment with its context, made here rather than received (a normalised copy, the warm-up comment)."""

    body: str
    article_title: str | None = None
    article_text: str | None = None
    parent_body: str | None = None


def normalised(item: HasContext, *, repair_spelling: bool = False) -> ContextText:
    """The comment and its parent after threadguard.normalise."""
    from threadguard.normalise import normalise_comment

    body, parent = normalise_comment(item.body, item.parent_body, repair_spelling=repair_spelling)
    return ContextText(body, item.article_title, item.article_text, parent)


class Scorer:
    """A loaded model dir: predict_proba for metrics, score for decisions. Thread-safe for reads.

    With `normalise` (the model dir's `text_normalisation`, unless overridden) every comment is normalised before
    the backend sees it, as its training rows were; with `repair_spelling` too (`spelling_repair`), misspelt abuse is
    repaired as the normaliser's last step.
    """

    def __init__(self, model_dir: ModelDir, backend: Backend, device: str, *, normalise: bool = False, repair_spelling: bool = False) -> None:
        self.model_dir = model_dir
        self.backend = backend
        self.device = device
        self.normalise = normalise
        self.repair_spelling = repair_spelling
        self.warm = False  # set by warm_up once it has scored

    @property
    def name(self) -> str:
        return self.model_dir.config.name

    @property
    def version(self) -> str:
        return self.model_dir.config.version

    @property
    def thresholds(self) -> dict[str, LabelThresholds]:
        return self.model_dir.thresholds

    @property
    def judges_pitches_alone(self) -> bool:
        """Whether the backend scores off_topic without an article by a spam head alone (so it may decide then)."""
        heads = getattr(self.backend, "heads", None)
        return bool(getattr(heads, "has_spam", False))

    def as_trained(self, items: Sequence[HasContext]) -> Sequence[HasContext]:
        """The items as the backend must see them: normalised when the model was trained on normalised text."""
        return [normalised(item, repair_spelling=self.repair_spelling) for item in items] if self.normalise else items

    def predict_proba(self, items: Sequence[HasContext], batch_size: int = 2048) -> np.ndarray:
        """(n, 3) scores in LABELS order."""
        items = self.as_trained(items)
        parts = [self.backend.predict_proba(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, len(LABELS)), dtype=np.float32)

    def score(self, items: Sequence[HasContext]) -> list[Scored]:
        """Scores and a decision per item, in input order (always a list, whatever the size)."""
        return self.decisions(items, self.predict_proba(items))

    def decisions(self, items: Sequence[HasContext], probs: np.ndarray) -> list[Scored]:
        """The decision per item from its scores (predict_proba's rows): what score() answers, for scores made already."""
        results = []
        pitches_alone = self.judges_pitches_alone
        for item, row in zip(items, probs, strict=True):
            scores = {label: float(np.clip(row[j], 0.0, 1.0)) for j, label in enumerate(LABELS)}
            judged = judged_labels(item, pitches_alone=pitches_alone)
            results.append(Scored(scores=scores, decision=decide(scores, self.thresholds, judged), judged=judged))
        return results


def cuda_available() -> bool:
    """True when PyTorch sees a CUDA device, or (a serving-only install without torch) ONNX Runtime has its CUDA provider."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        import onnxruntime as ort

        return "CUDAExecutionProvider" in ort.get_available_providers()


def resolve_device(device: str, *, has_cuda: Callable[[], bool] = cuda_available) -> str:
    """auto picks CUDA when present, else CPU (with a log line); cuda without a GPU is an error."""
    if device == "cpu":
        return "cpu"
    present = has_cuda()
    if device == "cuda" and not present:
        raise ArtifactError("--device cuda was asked for, but no CUDA device is available")
    if device == "auto" and not present:
        log.warning("device auto: no CUDA device found, falling back to CPU")
    return "cuda" if present else "cpu"


WARM_UP = ContextText("Thanks for the article, the trade numbers were interesting.", article_title="Trade talks resume",
                      parent_body="What do you make of the tariffs?")


def warmed(scorer: Scorer) -> Scorer:
    """The scorer, after warm_up; one warmed already (`threadguard serve` warms the first model to refuse a broken dir
    in one line, before the app's start-up would) is not scored again."""
    if not scorer.warm:
        warm_up(scorer)
    return scorer


def warm_up(scorer: Scorer) -> None:
    """Score one comment so lazy initialisation (ONNX graph optimisation, CUDA kernels) happens before traffic,
    and a dir whose weights load but cannot run fails here, not on a request."""
    try:
        probs = scorer.predict_proba([WARM_UP])
    except ArtifactError:
        raise
    except Exception as exc:
        raise ArtifactError(f"{scorer.model_dir.path}: the model loads but cannot score ({exc})") from exc
    if probs.shape != (1, len(LABELS)) or not np.isfinite(probs).all():
        raise ArtifactError(f"{scorer.model_dir.path}: the model scored a warm-up comment as {probs.tolist()}, not {len(LABELS)} finite scores")
    scorer.warm = True


def open_scorer(path: Path, *, device: str = "auto", runtime: str | None = None, threads: int | None = None, normalise: bool | None = None,
                repair_spelling: bool | None = None, int8_precision: bool = True, read_whole_comments: bool = True) -> Scorer:
    """Validate a model dir and load its backend; every consumer (serve, score, evaluate) comes through here.

    `normalise` None follows the model dir (`text_normalisation` in its backend config); True/False override it (measuring);
    `repair_spelling` likewise follows `spelling_repair` (it acts only where the scorer normalises).
    `int8_precision` False lets int8 saturate on x86 CPUs without VNNI for speed (serving.transformer.onnx_session_options).
    `read_whole_comments` False has a transformer score each comment's first max_length tokens alone (serving/windows.py).
    """
    try:
        scorer = _open_scorer(Path(path), device=device, runtime=runtime, threads=threads, int8_precision=int8_precision)
    except ArtifactError:
        raise
    except Exception as exc:  # corrupt weights surface as whatever the loading library raises
        raise ArtifactError(f"{path}: cannot load the model ({type(exc).__name__}: {exc})") from exc
    backend = scorer.model_dir.config.backend
    scorer.normalise = bool(backend.get("text_normalisation", False)) if normalise is None else normalise
    scorer.repair_spelling = bool(backend.get("spelling_repair", False)) if repair_spelling is None else repair_spelling
    if not read_whole_comments and hasattr(scorer.backend, "read_whole_comments"):
        scorer.backend.read_whole_comments = False
    return scorer


def _open_scorer(path: Path, *, device: str, runtime: str | None, threads: int | None, int8_precision: bool) -> Scorer:
    model_dir = read_model_dir(Path(path), expected_labels=[label.value for label in LABELS])
    if model_dir.config.kind == "linear":
        # A sparse linear model gains nothing from a GPU: it always runs on CPU, whatever --device says.
        backend: Backend = LinearModel.from_dir(model_dir.path, model_dir.config.backend)
        if device == "cuda":
            log.info("the linear model runs on CPU; --device cuda has no effect on it")
        chosen = "cpu"
    else:
        from serving.transformer import TransformerBackend

        chosen = resolve_device(device)
        backend = TransformerBackend(model_dir.path, model_dir.config.backend, device=chosen, runtime=runtime, threads=threads,
                                     int8_precision=int8_precision)
        chosen = backend.device
    log.info("loaded model %s (%s) on %s", model_dir.config.name, model_dir.config.version, chosen)
    return Scorer(model_dir, backend, chosen)
