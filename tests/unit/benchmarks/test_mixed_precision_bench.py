"""bench.mixed_precision times real optimiser steps: each untimed warm-up dropped, the weights moved, in either precision."""

from __future__ import annotations

import copy
import random
from pathlib import Path

import torch
from transformers import AutoModel

from bench.mixed_precision import WARM_UP, step_times
from labels.sets import read_jsonl
from serving.transformer import load_tokenizer
from training.config import TransformerConfig
from training.finetune import bucketed_batches, budget_of, build_biencoder, encode_rows


def test_each_precision_times_its_steps_after_the_warm_up_and_trains(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    rows = read_jsonl(tiny_set_path)
    config = TransformerConfig(base_model=str(tiny_encoder_path), max_length=64)
    encoded = encode_rows(load_tokenizer(tiny_encoder_path / "tokenizer.json", 64), rows, [1.0] * len(rows), budget_of(config))
    batches = bucketed_batches(encoded.lengths, 4, random.Random(0))[: WARM_UP + 3]
    start = build_biencoder(AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False), context_grad=False)
    trained = {}
    for mode in ("off", "bf16"):
        model = copy.deepcopy(start)
        torch.manual_seed(0)  # the same dropout in both, so only the precision differs
        times = step_times(model, encoded, batches, mode)
        assert len(times) == 3 and all(t > 0 for t in times)
        trained[mode] = model.comment.weight.detach().clone()
        assert not torch.equal(trained[mode], start.comment.weight)
    assert not torch.equal(trained["off"], trained["bf16"])  # the bf16 steps did run in bf16
