"""int8-consistency fine-tuning: teach the fp32 model to give the same scores through dynamic int8 rounding.

The export quantises every encoder projection with ONNX Runtime's dynamic int8 (training/export.py): weights int8,
symmetric, one scale per output channel; each projection's input uint8 on one scale and zero point taken from that
tensor's own min and max at run time. Decisions near a threshold flip when that rounding moves a score across it
(docs/benchmarks.md, "int8 agreement"), and no single group of layers left in fp32 or activation smoothing closes
the gap to issue 7's 99 %. This module simulates the same rounding in PyTorch ("fake quantisation": round in the
forward pass, pass gradients straight through) and runs a short phase after fine-tuning whose loss is the task loss
on the fp32 forward plus the squared difference between the fp32 and the simulated-int8 logits. The exported
fp32 model is the one this phase leaves, so the parity test compares like with like.
"""

from __future__ import annotations

import contextlib
import logging
import types
from collections.abc import Callable, Iterator, Mapping

log = logging.getLogger(__name__)

UINT8_LEVELS = 255.0
INT8_MAX = 127.0


def fake_quant_activation(x):  # type: ignore[no-untyped-def]
    """x rounded as ONNX Runtime's DynamicQuantizeLinear rounds it (uint8, range stretched to include 0), gradient
    straight through."""
    import torch

    with torch.no_grad():
        low = torch.clamp(x.min(), max=0.0)
        high = torch.clamp(x.max(), min=0.0)
        scale = torch.clamp((high - low) / UINT8_LEVELS, min=1e-8)
        zero = torch.clamp(torch.round(-low / scale), 0.0, UINT8_LEVELS)
        rounded = (torch.clamp(torch.round(x / scale) + zero, 0.0, UINT8_LEVELS) - zero) * scale
    return x + (rounded - x).detach()


def fake_quant_weight(weight):  # type: ignore[no-untyped-def]
    """A Linear weight (out, in) rounded to symmetric int8 with one scale per output channel, gradient straight through."""
    import torch

    with torch.no_grad():
        scale = torch.clamp(weight.abs().amax(dim=1, keepdim=True) / INT8_MAX, min=1e-12)
        rounded = torch.clamp(torch.round(weight / scale), -INT8_MAX, INT8_MAX) * scale
    return weight + (rounded - weight).detach()


def _fake_quant_forward(self, x):  # type: ignore[no-untyped-def]
    import torch

    return torch.nn.functional.linear(fake_quant_activation(x), fake_quant_weight(self.weight), self.bias)


def _fake_quant_lookup(self, ids):  # type: ignore[no-untyped-def]
    import torch

    # The quantiser stores embedding tables (its Gather) as uint8 on one scale and zero point per table, the same
    # arithmetic as an activation's.
    return torch.nn.functional.embedding(ids, fake_quant_activation(self.weight), self.padding_idx)


def quantised_layers(module) -> list:  # type: ignore[no-untyped-def]
    """The layers inside `module` that the int8 export quantises: every nn.Linear (MatMulInteger) and nn.Embedding
    (a Gather from a uint8 table)."""
    from torch import nn

    return [m for m in module.modules() if isinstance(m, nn.Linear | nn.Embedding)]


@contextlib.contextmanager
def simulated_int8(encoder) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """Within the block, `encoder` computes as the int8 export does: every Linear with int8-rounded inputs and weights,
    every Embedding from a uint8-rounded table. The layers are patched per instance, so parameter names and
    `save_pretrained` are untouched; yields how many layers were patched."""
    from torch import nn

    layers = quantised_layers(encoder)
    for layer in layers:
        forward = _fake_quant_lookup if isinstance(layer, nn.Embedding) else _fake_quant_forward
        layer.forward = types.MethodType(forward, layer)
    try:
        yield len(layers)
    finally:
        for layer in layers:
            del layer.forward  # back to the class's own forward


def consistency_tune(model, train, config, *, pos_weight, seed: int, device: str, progress: bool = True,  # type: ignore[no-untyped-def]
                     validate: Callable[[], Mapping[str, float]] | None = None,
                     after_stretch: Callable[[int], None] | None = None) -> list[dict[str, float]]:
    """`config.int8_consistency_steps` optimiser steps on `train` (training.finetune.Encoded) that keep the task loss and
    pull the simulated-int8 logits onto the fp32 ones; returns the phase's history (mean squared logit gap per stretch).

    With `validate` (validation ROC-AUC of the model as it is, per source and label), the phase scores validation before
    it starts and at every stretch, and ends on the last stretch where no source's label fell more than
    `config.int8_consistency_tolerance` below its start (the start itself if none): the gap term can trade away what
    the task loss on one batch at a time does not see, and a mean over sources hides one source's loss (on the
    default config SemEval off_topic fell by 0.09 while the early-stopping mean held).
    `after_stretch(step)` runs at each history point (bench/int8_consistency.py measures decisions there).

    Both forwards run in eval mode: with dropout on, the two passes would differ by their dropout masks, not by rounding.
    """
    import random

    import torch
    from tqdm import tqdm

    from training.finetune import bucketed_batches, collate, masked_bce

    steps = config.int8_consistency_steps
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.int8_consistency_learning_rate, weight_decay=config.weight_decay)
    batches = bucketed_batches(train.lengths, config.batch_size, random.Random(seed * 7919))
    model.eval()
    history: list[dict[str, float]] = []
    gaps: list[float] = []

    def snapshot() -> dict:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    start = dict(validate()) if validate is not None else {}
    kept, kept_step = (snapshot(), 0) if validate is not None else (None, steps)
    if validate is not None:
        model.eval()
        history.append({"step": 0.0, "valid_pairs": float(len(start))})
    stretch = max(1, min(50, steps // 4))
    with tqdm(total=steps, desc="int8-consistency", unit="step", disable=not progress) as bar:
        for step in range(1, steps + 1):
            batch, labels, weights = collate(train, batches[(step - 1) % len(batches)], device)
            logits = model(batch).float()
            with simulated_int8(model.encoder):
                rounded = model(batch).float()
            gap = torch.mean((rounded - logits) ** 2)
            loss = masked_bce(logits, labels, weights, pos_weight) + config.int8_consistency_weight * gap
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            gaps.append(float(gap.item()))
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", gap=f"{gap.item():.4f}")
            if step % stretch == 0 or step == steps:
                entry = {"step": float(step), "mean_squared_logit_gap": sum(gaps) / len(gaps)}
                gaps = []
                if validate is not None:
                    now = validate()
                    model.eval()
                    worst = max(start, key=lambda k: start[k] - now.get(k, 0.0), default="")
                    entry["valid_worst_drop"] = start[worst] - now.get(worst, 0.0) if worst else 0.0
                    log.info("int8-consistency step %d: mean squared logit gap %.2e, largest validation ROC-AUC drop %.4f (%s)",
                             step, entry["mean_squared_logit_gap"], entry["valid_worst_drop"], worst)
                    if entry["valid_worst_drop"] <= config.int8_consistency_tolerance:
                        kept, kept_step = snapshot(), step
                history.append(entry)
                if after_stretch is not None:
                    after_stretch(step)
                    model.eval()
    if kept is not None and kept_step != steps:
        model.load_state_dict(kept)
        log.info("int8-consistency: validation fell more than %.4f after step %d; keeping that step's weights", config.int8_consistency_tolerance, kept_step)
    if validate is not None:
        history.append({"step": float(kept_step), "kept": 1.0})
    return history
