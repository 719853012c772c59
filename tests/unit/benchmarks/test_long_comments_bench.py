"""bench.long_comments: switching the later windows off and on restores the scorer, and only long comments count as long."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.long_comments import _long, windows
from labels.schema import LabelledComment
from serving.model import open_scorer
from threadguard.errors import UsageError


def _row(body: str) -> LabelledComment:
    return LabelledComment(id=str(len(body)), source="s", split="test", thread_id="t", body=body)


def test_windows_switch_restores_the_backend_and_long_means_past_max_length(tiny_transformer_dir: Path) -> None:
    scorer = open_scorer(tiny_transformer_dir, device="cpu")
    with windows(scorer, False):
        assert scorer.backend.read_whole_comments is False
    assert scorer.backend.read_whole_comments is True
    with pytest.raises(RuntimeError), windows(scorer, False):
        raise RuntimeError("a failing bench step")
    assert scorer.backend.read_whole_comments is True
    short, long = _row("Fair point about the budget."), _row("The council debated the budget until midnight. " * 30)
    assert _long(scorer, [short, long]).tolist() == [False, True]


def test_windows_switch_refuses_a_model_without_windows(tiny_model_dir: Path) -> None:
    with pytest.raises(UsageError, match="transformer"), windows(open_scorer(tiny_model_dir, device="cpu"), True):
        pass
