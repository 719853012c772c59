"""The model the service starts with is warmed before /readyz answers, as a swapped-in one is: its first request pays
no lazy start-up (ONNX Runtime's first run, spelling repair's word list), and a dir that loads but cannot score is
refused at start-up instead of failing a request."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.api import create_app
from serving.model import open_scorer, warmed
from threadguard import spelling
from threadguard.errors import ArtifactError
from threadguard.settings import Settings


def test_the_first_model_has_scored_before_the_first_request(tiny_model_dir: Path, db_url: str) -> None:
    calls: list[int] = []

    def factory(settings: Settings):  # type: ignore[no-untyped-def]
        scorer = open_scorer(settings.model_dir, device="cpu", normalise=True, repair_spelling=True)
        predict = scorer.predict_proba
        scorer.predict_proba = lambda items, **kw: (calls.append(len(items)), predict(items, **kw))[1]  # type: ignore[method-assign]
        return scorer

    spelling._english.cache_clear()
    with TestClient(create_app(Settings(model_dir=tiny_model_dir, database_url=db_url, device="cpu"), scorer_factory=factory)) as client:
        assert calls == [1]  # the warm-up comment, before any request
        assert spelling._english.cache_info().currsize == 1  # the word list is loaded
        assert client.get("/readyz").status_code == 200
        assert client.post("/v1/score", json={"body": "you haet them"}).status_code == 200
        assert calls == [1, 1]


def test_a_model_warmed_before_the_app_starts_is_not_warmed_again(tiny_model_dir: Path, db_url: str) -> None:
    calls: list[int] = []
    scorer = open_scorer(tiny_model_dir, device="cpu")
    predict = scorer.predict_proba
    scorer.predict_proba = lambda items, **kw: (calls.append(len(items)), predict(items, **kw))[1]  # type: ignore[method-assign]
    warmed(scorer)  # as `threadguard serve` does, to refuse a dir that cannot score in one line
    with TestClient(create_app(Settings(model_dir=tiny_model_dir, database_url=db_url, device="cpu"), scorer_factory=lambda _s: scorer)) as client:
        assert calls == [1]
        assert client.get("/readyz").status_code == 200


def test_a_model_that_loads_but_cannot_score_is_refused_at_start_up(tiny_model_dir: Path, db_url: str) -> None:
    def factory(settings: Settings):  # type: ignore[no-untyped-def]
        scorer = open_scorer(settings.model_dir, device="cpu")
        scorer.predict_proba = lambda items, **kw: np.full((len(items), 3), np.nan, dtype=np.float32)  # type: ignore[method-assign]
        return scorer

    with pytest.raises(ArtifactError, match="warm-up comment"):
        with TestClient(create_app(Settings(model_dir=tiny_model_dir, database_url=db_url, device="cpu"), scorer_factory=factory)):
            pass
