"""What bf16 autocast buys a fine-tuning step on this CPU: seconds per optimiser step of the shipped MiniLM bi-encoder,
float32 against bf16 (transformer.mixed_precision), on the same length-bucketed batches of real training comments.

Each precision starts from the same weights and takes the same STEPS steps (training.finetune.train_step: AdamW, masked BCE,
gradient clipping); the first WARM_UP are not timed. Whole runs and the models they give are compared in docs/benchmarks.md.
Run: HF_HUB_OFFLINE=1 .venv/bin/python -m bench.mixed_precision
"""

from __future__ import annotations

import copy
import datetime as dt
import random
import statistics
import time
from pathlib import Path

from bench.sections import machine, one_line_errors, write_section
from labels.corpora import load_corpus
from threadguard.hardware import cpu_has_bf16
from threadguard.settings import Settings
from training.config import TransformerConfig
from training.precision import autocast_for

STEPS = 24
WARM_UP = 4
ROWS = 4000  # Kaggle-insults training comments, bucketed by length as training buckets them


def step_times(model, encoded, batches, mode: str) -> list[float]:  # type: ignore[no-untyped-def]
    """Seconds of each optimiser step of `model` over `batches`, in `mode` (a mixed_precision value): fine-tuning's own
    step (training.finetune.train_step), batch padding included."""
    import torch

    from training.finetune import collate, train_step

    autocast = autocast_for(mode, "cpu")  # type: ignore[arg-type]
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)
    scaler = torch.amp.GradScaler("cpu", enabled=autocast.scale_gradients)
    pos_weight = torch.ones(3)
    times = []
    model.train()
    for idx in batches:
        start = time.perf_counter()
        batch, labels, weights = collate(encoded, idx, "cpu")
        train_step(model, batch, labels, weights, optimizer=optimizer, scaler=scaler, autocast=autocast, pos_weight=pos_weight)
        times.append(time.perf_counter() - start)
    return times[WARM_UP:]


def main() -> str:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from serving.transformer import TOKENIZER_FILE, load_tokenizer
    from training.finetune import bucketed_batches, budget_of, build_biencoder, encode_rows, resolve_base_model

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    config = TransformerConfig()
    base = resolve_base_model(config.base_model)
    rows = [r for r in load_corpus("kaggle_insults", Settings().datasets_dir) if r.split == "train"]
    rows = random.Random(0).sample(rows, min(ROWS, len(rows)))
    encoded = encode_rows(load_tokenizer(Path(base) / TOKENIZER_FILE, config.max_length), rows, [1.0] * len(rows), budget_of(config))
    batches = bucketed_batches(encoded.lengths, config.batch_size, random.Random(1))[:STEPS]
    tokens = sum(max(encoded.lengths[i] for i in idx) * len(idx) for idx in batches[WARM_UP:])
    start_model = build_biencoder(AutoModel.from_pretrained(base, add_pooling_layer=False), context_grad=False)
    lines = [
        f"Measured {dt.date.today()} on {machine()}, {torch.get_num_threads()} threads; CPU bf16 in hardware (AMX or AVX-512 BF16): "
        f"{'yes' if cpu_has_bf16() else 'no'}.",
        "Command: `HF_HUB_OFFLINE=1 .venv/bin/python -m bench.mixed_precision`",
        f"{STEPS - WARM_UP} optimiser steps after {WARM_UP} untimed, batches of {config.batch_size} Kaggle-insults training comments "
        f"bucketed by length ({tokens:,} padded comment tokens), each precision from the same weights.",
        "",
        "| transformer.mixed_precision | median s/step | examples/s | speed-up |",
        "|---|---|---|---|",
    ]
    medians = {}
    for mode in ("off", "bf16"):
        medians[mode] = statistics.median(step_times(copy.deepcopy(start_model), encoded, batches, mode))
        rate = config.batch_size / medians[mode]
        lines.append(f"| {mode} | {medians[mode]:.3f} | {rate:.0f} | {medians['off'] / medians[mode]:.2f}× |")
    body = "\n".join(lines)
    write_section("mixed-precision", body)
    return body


if __name__ == "__main__":
    with one_line_errors():
        print(main())
