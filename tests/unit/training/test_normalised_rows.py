"""Training and validation rows go through the normaliser the model dir records; test rows stay as written."""

from __future__ import annotations

import pytest

from labels.schema import LabelledComment
from threadguard.errors import ConfigError
from training.config import config_from_dict
from training.data import DataBundle, NamedSet
from training.pipeline import normalised_bundle


def _row(i: int, split: str, body: str) -> LabelledComment:
    return LabelledComment(id=f"r{i}", source="tiny", split=split, thread_id="t", body=body, parent_body="I haet them", insult=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("repair", [True, False])
def test_rows_are_repaired_only_where_the_config_repairs(repair: bool) -> None:
    train, validation, test = _row(1, "train", "you 1d01t"), _row(2, "validation", "you idoit"), _row(3, "test", "you idoit")
    bundle = DataBundle(train=[train], validation=[validation], validation_sets=[NamedSet("tiny", [validation])], tests=[NamedSet("tiny", [test])])
    fixed = normalised_bundle(bundle, repair_spelling=repair)
    word, parent = ("idiot", "I hate them") if repair else ("idoit", "I haet them")
    assert fixed.train[0].body == f"you {word}" and fixed.train[0].parent_body == parent  # leet is undone either way
    assert fixed.validation[0].body == fixed.validation_sets[0].rows[0].body == f"you {word}"
    assert fixed.tests[0].rows[0].body == "you idoit"  # the scorer normalises test rows as it serves them


def test_spelling_repair_needs_normalisation() -> None:
    base = {"name": "x", "data": {"sources": [{"path": "labels/data/seed.jsonl"}]}}
    assert config_from_dict({**base, "text_normalisation": True, "spelling_repair": True}, [], origin="t").spelling_repair
    with pytest.raises(ConfigError, match="spelling_repair needs text_normalisation"):
        config_from_dict(base, ["spelling_repair=true"], origin="t")


def test_the_config_decides_how_training_rows_are_read() -> None:
    from training.pipeline import as_the_model_reads

    base = {"name": "x", "data": {"sources": [{"path": "labels/data/seed.jsonl"}]}}
    bundle = DataBundle(train=[_row(1, "train", "you 1d01t")])
    assert as_the_model_reads(config_from_dict(base, [], origin="t"), bundle) is bundle
    assert as_the_model_reads(config_from_dict(base, ["text_normalisation=true"], origin="t"), bundle).train[0].body == "you idoit"
    repaired = as_the_model_reads(config_from_dict(base, ["text_normalisation=true", "spelling_repair=true"], origin="t"), bundle)
    assert repaired.train[0].body == "you idiot"
