"""bench.compare_runs: what each run's config changes against the reference, in the keys --set takes."""

from __future__ import annotations

from bench.compare_runs import config_changes, flatten


def test_flatten_numbers_list_items_as_set_does() -> None:
    config = {"seed": 13, "data": {"sources": [{"corpus": "olid"}, {"corpus": "davidson", "limit": 2000}], "eval_corpora": ["hatecheck"]}}
    assert flatten(config) == {"seed": 13, "data.sources.0.corpus": "olid", "data.sources.1.corpus": "davidson",
                               "data.sources.1.limit": 2000, "data.eval_corpora": ["hatecheck"]}


def test_changes_name_changed_added_and_dropped_keys_but_not_the_name() -> None:
    base = {"name": "minilm", "seed": 13, "data": {"sources": [{"corpus": "davidson", "limit": 2000}]}, "transformer": {"epochs": 1.5}}
    other = {"name": "other", "seed": 14, "data": {"sources": [{"corpus": "davidson", "limit": 6000}]}, "extra": True}
    assert config_changes(base, other) == ["data.sources.0.limit=6000", "extra=True", "seed=14", "transformer.epochs=(unset)"]
    assert config_changes(base, base) == []
