"""Refit classification heads over a model dir's frozen encoder, from its training config with overrides.

A full fine-tune takes half an hour on 2 cores and moves every label at once; run to run, a label can move by more
than the change being tried (docs/benchmarks.md). The heads are linear layers over the encoder's embeddings
(serving/heads.py), so one head can be refit in minutes: embed the training rows once with the dir's own scorer
(the runtime it serves with), fit a weighted logistic regression per label that starts from the head as it is and
is pulled back toward it, choose the pull on the early-stopping validation rows (the head as it is competes), and export through the same path as training (calibration, thresholds, every
test split scored through serving). The encoder and the other heads stay byte for byte.

What it is for: training data the encoder never needed to change for, such as off_topic learning to read the
parent comment from wrong-parent pairs (labels/pairs.py), or moderators' decisions between full retrains.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labels.schema import LABELS, Label, LabelledComment
from serving.heads import COMMENT_LABELS, CONTEXT_LABEL, HEADS_FILE, Heads, head_inputs
from threadguard.errors import ConfigError
from threadguard.settings import PROJECT_ROOT
from training.finetune import weighted_mean

log = logging.getLogger(__name__)

GROWN_INHOUSE = PROJECT_ROOT / "labels" / "data" / "inhouse-extended.jsonl"
STRENGTHS = (1.0, 0.3, 0.1, 0.03, 0.01, 0.001)  # the pull toward the head as it is; inf (kept as it is) is always tried
TOLERANCE = 0.02  # the most ROC-AUC any one validation group may lose against the head as it is


@dataclass(frozen=True)
class HeadFit:
    """One label's refit head: weights, bias, the pull chosen (inf: the head as it was) and each one's validation ROC-AUC;
    with source offsets, each training source's learned logit offset from the served source (refit only, never exported)."""

    label: str
    weight: np.ndarray
    bias: float
    strength: float
    validation: dict[float, float]
    offsets: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceOffsets:
    """A logit offset per training source for one label, as fine-tuning's transformer.source_bias had: `index` is each
    training row's group, `start` each group's offset from the served (folded) source, `free` whether the fit moves it.
    The served source's offset is 0 and fixed, since its bias is the head's own (fold_source_bias). The generators' rows
    (no bias in training) form one group whose offset, minus the served source's recorded bias, stays fixed too: for a
    label the generators only ever set to 0 (insult, bar the name-calling rows) a free offset runs off to minus
    infinity (−8.9 on the default's insult head) and those rows stop teaching anything."""

    names: list[str]
    index: np.ndarray
    start: np.ndarray
    free: np.ndarray


def source_offsets(tcfg, rows: Sequence[LabelledComment], label: Label, recorded: dict | None,  # type: ignore[no-untyped-def]
                   served: str | None = None) -> SourceOffsets | None:
    """The offsets a refit of `label` over a dir fine-tuned with transformer.source_bias must fit beside its head, or None
    when the dir's config gives `label` no bias. Without them one bias serves every source, and the weights learn the
    corpora's base rates (Kaggle's insults are half its rows, the in-domain set's a tenth) from whatever in the text
    tells the corpora apart: what the source bias was there to stop. `recorded` is the dir's backend "source_bias"
    (biases per source in LABELS order, the folded source): the offsets start where fine-tuning left them. `served` is
    the source whose bias the heads carry when the dir records none (a refit that turns source_bias on)."""
    from training.finetune import bias_free_sources, source_indices

    if tcfg.source_bias == "off" or label not in tcfg.source_bias_labels:
        return None
    names, index = source_indices(rows, bias_free_sources(tcfg))
    recorded = recorded or {}
    biases = {name: float(b[LABELS.index(label)]) for name, b in (recorded.get("biases") or {}).items()}
    folded = recorded.get("folded", served)
    served_bias = biases.get(folded, 0.0) if folded else 0.0
    start = np.array([biases.get(name, 0.0) - served_bias for name in names] + [0.0 - served_bias])  # 0.0 - x: no "-0.00" in the card
    free = np.array([name != folded for name in names] + [False])
    return SourceOffsets([*names, "generated"], index, start, free)


def features(backend, rows: Sequence[LabelledComment], label: Label) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The inputs the head of `label` reads, from the backend's embeddings (serving's arithmetic)."""
    z, context = head_inputs(*backend.embed_parts(rows))
    return context if LABELS.index(label) == CONTEXT_LABEL else z


def _annotated(rows: Sequence[LabelledComment], label: Label) -> tuple[list[int], np.ndarray]:
    idx = [i for i, r in enumerate(rows) if r.label(label) is not None]
    return idx, np.array([rows[i].label(label) for i in idx], dtype=np.float64)


def group_aucs(y: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> dict[int, float]:
    """ROC-AUC per validation group that holds both classes."""
    from sklearn.metrics import roc_auc_score

    return {int(g): float(roc_auc_score(y[groups == g], scores[groups == g])) for g in np.unique(groups) if 0 < y[groups == g].sum() < (groups == g).sum()}


def _logistic_toward(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, w0: np.ndarray, b0: float, strength: float,
                     trainable: np.ndarray | None = None, offsets: SourceOffsets | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """argmin of the weighted mean log-loss + strength/2 * |w - w0|^2, from (w0, b0): the head moves only as far as
    the new rows ask, so what it learnt jointly with the encoder is kept where they say nothing. With `trainable`
    (a boolean mask over the features), the other weights stay exactly at w0; the bias always moves. With `offsets`,
    each row's logit also gets its source's offset, and the free offsets are fit too, unpulled (they are intercepts);
    the third value is every group's offset (empty without)."""
    from scipy.optimize import minimize

    norm = sample_weight / sample_weight.sum()
    free = np.ones(len(w0), dtype=bool) if trainable is None else trainable
    fixed = x[:, ~free] @ w0[~free]  # what the frozen weights contribute to every row's logit
    n_free = int(free.sum())
    start_off = np.zeros(0) if offsets is None else offsets.start.astype(np.float64)

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        off = start_off.copy()
        if offsets is not None:
            off[offsets.free] = theta[n_free + 1 :]
        return theta[:n_free], float(theta[n_free]), off

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w_free, b, off = unpack(theta)
        w = w0.copy()
        w[free] = w_free
        z = x[:, free] @ w_free + fixed + b + (off[offsets.index] if offsets is not None else 0.0)
        # log(1 + e^z) - y z, stably
        value = float(norm @ (np.logaddexp(0.0, z) - y * z)) + 0.5 * strength * float((w - w0) @ (w - w0))
        residual = norm * (1.0 / (1.0 + np.exp(-z)) - y)
        grad = np.append(x[:, free].T @ residual + strength * (w_free - w0[free]), residual.sum())
        if offsets is not None:
            grad = np.append(grad, np.bincount(offsets.index, weights=residual, minlength=len(start_off))[offsets.free])
        return value, grad

    theta0 = np.concatenate([w0[free], [b0], start_off[offsets.free] if offsets is not None else []]).astype(np.float64)
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    w_free, b, off = unpack(result.x)
    w = w0.copy()
    w[free] = w_free
    return w, b, off


def fit_head(label: Label, train_x: np.ndarray, train_y: np.ndarray, train_w: np.ndarray, valid_x: np.ndarray, valid_y: np.ndarray,
             valid_groups: np.ndarray, group_weights: Sequence[float], *, start: tuple[np.ndarray, float], pos_weight_max: float,
             strengths: Sequence[float] = STRENGTHS, tolerance: float = TOLERANCE, trainable: np.ndarray | None = None,
             offsets: SourceOffsets | None = None) -> HeadFit:
    """Logistic regression pulled toward the head as it is (`start`), once per strength; positives weighted as
    fine-tuning weighs them (sqrt(neg/pos), capped).

    The head as it is competes (strength inf). A candidate qualifies only if no validation group (one per source)
    loses more than `tolerance` ROC-AUC against it: a weighted mean hides one source falling while another rises,
    and on the default's refit for wrong-parent pairs pull 0.001 raised the in-domain group by 0.12 while
    Globe and Mail fell by 0.067 and SemEval by 0.059 (docs/benchmarks.md). Of those that qualify, the best weighted
    mean wins. `offsets` (source_offsets) fit a logit offset per training source beside the head, as fine-tuning did;
    validation scores the head alone, as served."""
    if train_y.min() == train_y.max():
        raise ConfigError(f"{label.value}: the training rows hold one class only; nothing to fit")
    pos = train_y.sum()
    pos_weight = float(np.clip(np.sqrt((len(train_y) - pos) / pos), 1.0, pos_weight_max))
    sample_weight = train_w * np.where(train_y == 1, pos_weight, 1.0)
    w0, b0 = start[0].astype(np.float64), float(start[1])
    candidates = {math.inf: (w0, b0, np.zeros(0) if offsets is None else offsets.start)}
    for strength in strengths:
        candidates[strength] = _logistic_toward(train_x, train_y, sample_weight, w0, b0, strength, trainable, offsets)
    per_group = {k: group_aucs(valid_y, valid_x @ w + b, valid_groups) for k, (w, b, _) in candidates.items()}
    means = {k: weighted_mean(aucs, group_weights) for k, aucs in per_group.items()}
    qualified = [k for k, aucs in per_group.items() if all(aucs.get(g, 0.0) >= a - tolerance for g, a in per_group[math.inf].items())]
    for k in candidates:
        worst = min((per_group[k].get(g, 0.0) - a for g, a in per_group[math.inf].items()), default=0.0)
        log.info("%s head, pull %g: validation ROC-AUC %.4f (largest group change %+.4f)%s", label.value, k, means[k], worst,
                 "" if k in qualified else ", a group falls too far")
    best = max(qualified, key=lambda k: (means[k], k))  # ties go to the stronger pull, the head as it is first
    w, b, off = candidates[best]
    learned = {} if offsets is None else {name: round(float(o), 4) for name, o in zip(offsets.names, off, strict=True)}
    return HeadFit(label.value, w.astype(np.float32), b, best, means, learned)


def parent_features(dim: int) -> np.ndarray:
    """Mask of off_topic's inputs that read the parent: z*zp, the comment-parent cosine and has_parent
    (serving.heads.context_features: [z, z*za, z*zp, cos_a, cos_p, has_a, has_p])."""
    mask = np.zeros(3 * dim + 4, dtype=bool)
    mask[2 * dim : 3 * dim] = True
    mask[3 * dim + 1] = True
    mask[3 * dim + 3] = True
    return mask


def refit_heads(backend, heads: Heads, train: Sequence[LabelledComment], train_weights: Sequence[float], valid: Sequence[LabelledComment],  # type: ignore[no-untyped-def]
                valid_groups: Sequence[int], group_weights: Sequence[float], labels: Sequence[Label], *, pos_weight_max: float,
                strengths: Sequence[float] = STRENGTHS, parent_only: bool = False,
                offsets_for: Callable[[Sequence[LabelledComment], Label], SourceOffsets | None] | None = None) -> tuple[Heads, list[HeadFit]]:
    """`heads` with the heads of `labels` refit; the others are returned as they were. With `parent_only`, the
    off_topic head moves only its weights on the parent's features (and its bias): what it knows about the article
    stays as it was, which a refit of every weight gave away (docs/benchmarks.md, "Replies under another thread's parent").
    `offsets_for(training rows, label)` gives a label's per-source offsets (source_offsets), or None for one bias."""
    out = Heads(heads.comment_weight.copy(), heads.comment_bias.copy(), heads.context_weight.copy(), heads.context_bias.copy(), heads.spam_weight, heads.spam_bias)
    fits = []
    weights = np.asarray(train_weights, dtype=np.float64)
    for label in labels:
        t_idx, t_y = _annotated(train, label)
        v_idx, v_y = _annotated(valid, label)
        if not t_idx or not v_idx:
            raise ConfigError(f"{label.value}: no annotated {'training' if not t_idx else 'validation'} rows to refit its head on")
        log.info("%s head: embedding %d training and %d validation rows", label.value, len(t_idx), len(v_idx))
        train_x = features(backend, [train[i] for i in t_idx], label)
        valid_x = features(backend, [valid[i] for i in v_idx], label)
        j = LABELS.index(label)
        start = (heads.context_weight[0], float(heads.context_bias[0])) if j == CONTEXT_LABEL else \
            (heads.comment_weight[COMMENT_LABELS.index(j)], float(heads.comment_bias[COMMENT_LABELS.index(j)]))
        trainable = parent_features(heads.comment_weight.shape[1]) if parent_only and j == CONTEXT_LABEL else None
        offsets = offsets_for([train[i] for i in t_idx], label) if offsets_for else None
        if offsets is not None:
            log.info("%s head: a logit offset per training source beside it, as fine-tuning had (%s)", label.value, ", ".join(offsets.names))
        fit = fit_head(label, train_x, t_y, weights[t_idx], valid_x, v_y, np.asarray(valid_groups)[v_idx], group_weights,
                       start=start, pos_weight_max=pos_weight_max, strengths=strengths, trainable=trainable, offsets=offsets)
        if j == CONTEXT_LABEL:
            out.context_weight[0], out.context_bias[0] = fit.weight, fit.bias
        else:
            row = COMMENT_LABELS.index(j)
            out.comment_weight[row], out.comment_bias[row] = fit.weight, fit.bias
        fits.append(fit)
    return out, fits


def in_domain_weight(config, bundle, stopping_weights: Sequence[float]) -> float:  # type: ignore[no-untyped-def]
    """The weight early stopping gives the in-domain group, which every guard group added here shares. stopping_rows
    numbers its groups in validation_sets' order, unless it fell back to one group of all rows."""
    first = set(config.data.report_first)
    in_domain = [g for g, named in enumerate(bundle.validation_sets) if named.name in first]
    per_source = len(stopping_weights) == len(bundle.validation_sets)
    return stopping_weights[in_domain[0]] if in_domain and per_source else max(stopping_weights)


def with_pair_guards(config, bundle, valid: list, groups: list[int], weights: list[float]) -> tuple[list, list[int], list[float]]:  # type: ignore[no-untyped-def]
    """The early-stopping rows plus one more group: the in-domain validation rows each beside its wrong-context copies
    (another thread's article, and with `data.parent_swap_pairs` another thread's comment as parent), weighted as the
    in-domain group. Early stopping has no such group: the in-domain set keeps its validation labels real, and the
    public corpora's Fox News threads belong to it. Without it a refit cannot see what it does to reading the article
    or the parent; the first refit for wrong-parent pairs lost wrong-article pairs 0.880 -> 0.841 unseen."""
    from labels.pairs import with_wrong_context_pairs

    first = set(config.data.report_first)
    rows = [r for named in bundle.validation_sets if named.name in first for r in named.rows]
    if not rows:
        return valid, groups, weights
    paired = [r for r in with_wrong_context_pairs(rows, seed=config.seed, parent_swaps=config.data.parent_swap_pairs) if r.off_topic is not None]
    first_weight = in_domain_weight(config, bundle, weights)  # `weights` are early stopping's, before any guard
    group = len(weights)
    log.info("refit guard: %d in-domain validation rows with their wrong-context copies as group %d", len(paired), group)
    return [*valid, *paired], [*groups, *[group] * len(paired)], [*weights, first_weight]


def with_guard_set(path: Path, bundle, valid: list, groups: list[int], weights: list[float],  # type: ignore[no-untyped-def]
                   *, weight: float) -> tuple[list, list[int], list[float]]:
    """The guard rows plus one more group of `weight` (in_domain_weight): the validation rows of the hand-labelled set
    at `path` that the early-stopping sets lack (by id). For the grown in-domain set (GROWN_INHOUSE) those are its five
    added Globe and Mail threads: training reads their texts from the Globe and Mail corpus for off_topic pairs, but
    never their hate or insult labels. Two hate-head refits chose pulls that kept every other guard group, and lost
    in-domain hate on the grown test split (−0.037 [−0.059, −0.016] for a control), most of it on those threads
    (docs/benchmarks.md, "A hate-head refit with the threat rows")."""
    from labels.sets import read_jsonl

    known = {r.id for named in bundle.validation_sets for r in named.rows}
    rows = [r for r in read_jsonl(path, hand_labelled=True) if r.split == "validation" and r.id not in known]
    if not rows:
        return valid, groups, weights
    group = len(weights)
    log.info("refit guard: %d validation rows of %s that early stopping does not score, as group %d", len(rows), path.name, group)
    return [*valid, *rows], [*groups, *[group] * len(rows)], [*weights, weight]


def refit_model_dir(model_dir: Path, labels: Sequence[Label], *, overrides: Sequence[str], datasets_dir: Path, models_root: Path,
                    make_current: bool = False, parent_only: bool = False, pair_guards: bool = True,
                    guard_set: Path | None = None) -> Path:
    """A new model dir: `model_dir`'s files with the heads of `labels` refit on its recorded config plus `overrides`."""
    from serving.model import open_scorer
    from threadguard.artifact import read_model_dir
    from training.config import config_from_dict
    from training.data import assemble
    from training.pipeline import check_run_name, finalize, in_domain_source_key, stopping_rows, weight_files, without_calibration

    source = read_model_dir(model_dir, expected_labels=[l.value for l in LABELS])
    if source.config.kind != "transformer":
        raise ConfigError(f"{model_dir}: only a transformer dir has heads over an encoder to refit")
    config = config_from_dict(source.config.train_config, list(overrides), origin=str(model_dir))
    bundle = assemble(config, datasets_dir, progress=False)
    tag = "-heads" + ("-parent" if parent_only else "") + ("" if pair_guards else "-noguard") + ("" if guard_set else "-nogrown")
    made_from = [source.config.name, *(l.value for l in labels)]  # refits of other dirs or other heads get other names
    named_at = check_run_name(models_root, config, bundle, tag=tag, made_from=made_from)
    scorer = open_scorer(model_dir, device="cpu")
    valid, groups, group_weights = stopping_rows(config, bundle)
    guard_weight = in_domain_weight(config, bundle, group_weights)
    if pair_guards:
        valid, groups, group_weights = with_pair_guards(config, bundle, valid, groups, group_weights)
    if guard_set is not None:
        valid, groups, group_weights = with_guard_set(guard_set, bundle, valid, groups, group_weights, weight=guard_weight)
    recorded, served = source.config.backend.get("source_bias"), in_domain_source_key(config, bundle)
    heads, fits = refit_heads(scorer.backend, scorer.backend.heads, bundle.train, bundle.train_weights, valid, groups, group_weights, labels,  # type: ignore[attr-defined]
                              pos_weight_max=config.transformer.pos_weight_max, parent_only=parent_only,
                              offsets_for=lambda rows, label: source_offsets(config.transformer, rows, label, recorded, served))
    files = weight_files(source.path)
    files[HEADS_FILE] = heads.to_bytes()
    params = {k: v for k, v in without_calibration(source.config.backend).items() if k != "recalibrated"}  # this card says how it was made
    params["head_refit"] = {"from": source.config.name, "labels": [l.value for l in labels], "overrides": list(overrides), "parent_only": parent_only,
                            "pair_guards": pair_guards, "guard_set": guard_set.name if guard_set else None,
                            "fits": [{"label": f.label, "pull": str(f.strength), "validation_roc_auc": {str(k): round(a, 4) for k, a in f.validation.items()},
                                      **({"source_offsets": f.offsets} if f.offsets else {})} for f in fits]}
    return finalize(config, bundle, files, params, models_root=models_root, make_current=make_current, tag=tag, made_from=made_from,
                    named_at=named_at)
