"""bench.padding counts what cutting batches saves on the same comments, and refuses a model dir with no encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.padding import call_ids, main, padded_tokens
from labels.sets import read_jsonl
from serving.model import open_scorer
from serving.transformer import RUN_OVERHEAD_TOKENS
from threadguard.errors import ArtifactError
from threadguard.settings import PROJECT_ROOT


def test_cut_batches_pad_fewer_tokens_in_more_runs(tiny_transformer_dir: Path) -> None:
    scorer = open_scorer(tiny_transformer_dir, device="cpu")
    rows = read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl")[:96]
    calls = call_ids(scorer, rows)
    fixed_runs, fixed_padded, real = padded_tokens(calls, scorer.backend.batch_size, None)
    cut_runs, cut_padded, cut_real = padded_tokens(calls, scorer.backend.batch_size, RUN_OVERHEAD_TOKENS)
    assert fixed_runs == 3 and cut_runs > fixed_runs
    assert cut_real == real <= cut_padded < fixed_padded


def test_a_linear_model_dir_is_refused(tiny_model_dir: Path) -> None:
    with pytest.raises(ArtifactError, match="not a transformer model dir"):
        main(tiny_model_dir)
