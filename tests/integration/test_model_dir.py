"""The model-dir contract: every exported dir opens through serving, and broken dirs are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from labels.sets import read_jsonl
from serving.model import open_scorer
from tests.conftest import DATASETS, needs_shared
from threadguard.artifact import REQUIRED_FILES, read_model_dir
from threadguard.errors import ArtifactError
from threadguard.settings import PROJECT_ROOT
from training.pipeline import evaluate_model_dir

DEFAULT_MODEL = PROJECT_ROOT / "models" / "current"


def _model_dirs() -> list[Path]:
    return [DEFAULT_MODEL] if DEFAULT_MODEL.exists() else []


def test_tiny_model_dir_holds_the_contract(tiny_model_dir: Path) -> None:
    names = {p.name for p in tiny_model_dir.iterdir()}
    assert set(REQUIRED_FILES) <= names
    assert json.loads((tiny_model_dir / "labels.json").read_text()) == ["hate", "insult", "off_topic"]
    assert not any(name.endswith((".pkl", ".pickle", ".joblib")) for name in names)
    card = (tiny_model_dir / "MODEL_CARD.md").read_text()
    config = json.loads((tiny_model_dir / "config.json").read_text())
    for record in config["data"]:
        assert record["sha256"][:16] in card  # the card and config carry the same data hashes
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    assert {m["sha256"] for m in metrics["eval_sets"]} <= {r["sha256"] for r in config["data"]}
    eces = [m["ece"] for s in metrics["eval_sets"] for m in s["labels"].values()]
    assert eces and all(0.0 <= e <= 1.0 for e in eces)  # every test set's calibration error is kept
    assert "| P@reject | R@reject | ECE |" in card
    assert "## Runtimes" not in card  # a linear model has no int8 file to describe


@pytest.mark.parametrize("model_dir", _model_dirs(), ids=lambda p: p.name)
def test_committed_default_model_opens_and_scores(model_dir: Path) -> None:
    scorer = open_scorer(model_dir, device="cpu")
    seed = read_jsonl(PROJECT_ROOT / "labels" / "data" / "seed.jsonl")
    probs = scorer.predict_proba(seed)
    assert probs.shape == (25, 3) and ((probs >= 0) & (probs <= 1)).all()


def test_scores_survive_the_export_round_trip(tiny_model_dir: Path, tiny_scorer) -> None:
    seed = read_jsonl(PROJECT_ROOT / "labels" / "data" / "seed.jsonl")
    reopened = open_scorer(tiny_model_dir, device="cpu")
    assert np.array_equal(reopened.predict_proba(seed), tiny_scorer.predict_proba(seed))


def test_evaluate_recomputes_the_exported_metrics(tiny_model_dir: Path) -> None:
    metrics, warnings = evaluate_model_dir(tiny_model_dir, datasets_dir=DATASETS, device="cpu", progress=False)
    stored = json.loads((tiny_model_dir / "metrics.json").read_text())
    assert warnings == []
    assert metrics.model_dump(mode="json") == stored


def _broken_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, copy)
    return copy


@pytest.mark.parametrize(
    ("breakage", "fragment"),
    [
        (lambda d: (d / "thresholds.json").unlink(), "missing thresholds.json"),
        (lambda d: (d / "labels.json").write_text('["insult", "hate", "off_topic"]'), "expected ['hate', 'insult', 'off_topic']"),
        (lambda d: (d / "thresholds.json").write_text('{"hate": {"review": 0.9, "reject": 0.1}, "insult": {"review": 0.1, "reject": 0.2}, "off_topic": {"review": 0.1, "reject": 0.2}}'), "below review"),
        (lambda d: (d / "config.json").write_text("{not json"), "not valid JSON"),
        (lambda d: (d / "linear.npz").write_bytes(b"corrupt"), "cannot read linear model weights"),
    ],
)
def test_broken_model_dirs_are_refused_with_a_clear_error(tiny_model_dir: Path, tmp_path: Path, breakage, fragment: str) -> None:
    broken = _broken_copy(tiny_model_dir, tmp_path)
    breakage(broken)
    with pytest.raises(ArtifactError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        open_scorer(broken, device="cpu")


def test_model_dirs_are_immutable(tiny_model_dir: Path) -> None:
    from threadguard.artifact import Metrics, write_model_dir

    model = read_model_dir(tiny_model_dir, expected_labels=["hate", "insult", "off_topic"])
    with pytest.raises(ArtifactError, match="already exists"):
        write_model_dir(tiny_model_dir, config=model.config, labels=model.labels, thresholds=model.thresholds, metrics=Metrics(eval_sets=[]), card="", files={})


@needs_shared
def test_hatecheck_never_enters_a_training_set() -> None:
    """Assemble the real baseline config's data and check no HateCheck text is among the training rows."""
    from labels.corpora import iter_texts, load_corpus
    from training.config import load_config
    from training.data import assemble

    config = load_config(PROJECT_ROOT / "training" / "configs" / "baseline.toml")
    bundle = assemble(config, DATASETS, progress=False)
    hatecheck = set(iter_texts(load_corpus("hatecheck", DATASETS)))
    assert not (set(iter_texts(bundle.train)) & hatecheck)
    assert all(row.source != "hatecheck" for row in bundle.train + bundle.validation)
    assert any(named.name == "hatecheck/test" for named in bundle.tests)


@needs_shared
def test_held_out_corpus_is_reported_but_never_trained_on() -> None:
    """The MiniLM config holds Civil Comments' toxic spans out: none of its texts train, its test split is reported."""
    from labels.corpora import iter_texts, load_corpus
    from training.config import load_config
    from training.data import assemble

    config = load_config(PROJECT_ROOT / "training" / "configs" / "minilm.toml", ["data.sources=[{corpus = 'olid', limit = 500}, {path = 'labels/data/inhouse.jsonl', name = 'inhouse'}]"])
    assert config.data.held_out_corpora == ["toxicspans"]
    bundle = assemble(config, DATASETS, progress=False)
    spans = load_corpus("toxicspans", DATASETS)
    assert not set(iter_texts(bundle.train)) & set(iter_texts(spans))
    # Validation is not filtered: one in-domain comment ("pathetic") is also a toxic-spans text.
    assert len(set(iter_texts(bundle.validation)) & set(iter_texts(spans))) <= 1
    held = [named for named in bundle.tests if named.name == "toxicspans/test (held out)"]
    assert held and len(held[0].rows) == sum(r.split == "test" for r in spans)


@needs_shared
def test_commercial_only_drops_non_commercial_corpora_and_inhouse_rows_drawn_from_them() -> None:
    from labels.corpora import CORPORA
    from training.config import load_config
    from training.data import assemble, origin_corpus

    config = load_config(PROJECT_ROOT / "training" / "configs" / "minilm.toml", [
        "data.commercial_only=true",
        "data.sources=[{path = 'labels/data/inhouse.jsonl', name = 'inhouse'}, {corpus = 'globe_and_mail'}, {corpus = 'davidson', limit = 300}]",
    ])
    bundle = assemble(config, DATASETS, progress=False)
    origins = {origin_corpus(r) for r in bundle.train + bundle.validation}
    assert "globe_and_mail" not in origins and "fox_news" in origins
    assert all(r.source != "globe_and_mail" for r in bundle.train)
    assert {r.source.split(":")[0] for r in bundle.train} == {"inhouse", "davidson", "synthetic_spam", "synthetic_contrast", "synthetic_feelings"}
    assert "inhouse:globe_and_mail" not in {r.source for r in bundle.train}
    assert all(CORPORA[o].commercial_use for o in origins if o)


@needs_shared
def test_the_first_source_owns_a_texts_split_so_no_text_trains_and_tests() -> None:
    """The in-domain set, listed first, keeps every training row; public rows sharing its texts in other splits go."""
    from labels.corpora import iter_texts
    from labels.sets import read_jsonl
    from training.config import load_config
    from training.data import assemble

    config = load_config(PROJECT_ROOT / "training" / "configs" / "minilm.toml", [
        "data.sources=[{path = 'labels/data/inhouse.jsonl', name = 'inhouse'}, {corpus = 'fox_news', off_topic_pairs = true}, {corpus = 'globe_and_mail'}]",
        "data.identity_counterfactuals=0",  # copies of in-domain rows would count as in-domain training rows
    ])
    bundle = assemble(config, DATASETS, progress=False)
    from labels.corpora import load_corpus

    inhouse_train = [r for r in read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl") if r.split == "train"]
    # Only texts of evaluation-only / held-out corpora leave (short replies also occur in HateCheck or toxic spans).
    forbidden = set(iter_texts(load_corpus("hatecheck", DATASETS))) | set(iter_texts(load_corpus("toxicspans", DATASETS)))
    expected = sum(text not in forbidden for text in iter_texts(inhouse_train))
    assert sum(r.source.startswith("inhouse") for r in bundle.train) == expected >= len(inhouse_train) - 2
    trained = set(iter_texts(bundle.train))
    evaluated = set(iter_texts(bundle.validation)) | {t for named in bundle.tests if named.name != "seed" for t in iter_texts(named.rows)}
    assert not trained & evaluated


def test_train_only_pairs_leave_validation_and_test_untouched(tiny_set_path: Path) -> None:
    from tests.conftest import tiny_config
    from training.data import assemble

    config = tiny_config(tiny_set_path, data={"sources": [{"path": str(tiny_set_path), "name": "tiny", "off_topic_pairs": "train"}], "eval_corpora": []})
    bundle = assemble(config, DATASETS, progress=False)
    plain = assemble(tiny_config(tiny_set_path, data={"sources": [{"path": str(tiny_set_path), "name": "tiny"}], "eval_corpora": []}), DATASETS, progress=False)
    assert len(bundle.train) > len(plain.train)  # wrong-context copies were added to training
    assert [r.id for r in bundle.validation] == [r.id for r in plain.validation]
    assert [r.id for r in bundle.tests[0].rows] == [r.id for r in plain.tests[0].rows]


@pytest.mark.parametrize(("key", "count", "labelled_as_generated"), [
    ("synthetic_spam", 25, lambda rows: all(r.off_topic == 1 and r.article_title for r in rows)),
    ("synthetic_contrast", 28, lambda rows: sum(r.hate == 1 for r in rows) == 8 and all(r.off_topic is None for r in rows)),
    ("synthetic_feelings", 20, lambda rows: sum(r.hate == 1 for r in rows) == 8 and all(r.off_topic is None for r in rows)),
    ("synthetic_threats", 20, lambda rows: sum(r.hate == 1 for r in rows) == 5 and all(r.off_topic is None for r in rows)),
    ("synthetic_name_calling", 20, lambda rows: sum(r.insult == 1 for r in rows) == 8 and all(r.hate == 0 and r.off_topic is None for r in rows)),
])
def test_generated_rows_join_training_only_and_are_recorded(tiny_set_path: Path, key: str, count: int, labelled_as_generated) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import tiny_config
    from training.data import assemble

    sources = [{"path": str(tiny_set_path), "name": "tiny"}]
    plain = assemble(tiny_config(tiny_set_path, data={"sources": sources, "eval_corpora": []}), DATASETS, progress=False)
    bundle = assemble(tiny_config(tiny_set_path, data={"sources": sources, "eval_corpora": [], key: count}), DATASETS, progress=False)
    generated = [r for r in bundle.train if r.source == key]
    assert len(generated) == count == len(bundle.train) - len(plain.train) and len(bundle.train_weights) == len(bundle.train)
    assert labelled_as_generated(generated)
    assert [r.id for r in bundle.validation] == [r.id for r in plain.validation]
    assert [len(named.rows) for named in bundle.tests] == [len(named.rows) for named in plain.tests]
    assert any(record.name == key and record.rows == count for record in bundle.records)


def test_name_calling_hate_unset_reaches_the_generated_rows(tiny_set_path: Path) -> None:
    from tests.conftest import tiny_config
    from training.data import assemble

    data = {"sources": [{"path": str(tiny_set_path), "name": "tiny"}], "eval_corpora": [],
            "synthetic_name_calling": 20, "name_calling_hate": "unset"}
    bundle = assemble(tiny_config(tiny_set_path, data=data), DATASETS, progress=False)
    generated = [r for r in bundle.train if r.source == "synthetic_name_calling"]
    assert len(generated) == 20 and {r.hate for r in generated} == {None} and sum(r.insult == 1 for r in generated) == 8


def test_typo_copies_join_training_last_misspelling_generated_rows_too(tiny_set_path: Path) -> None:
    from tests.conftest import tiny_config
    from training.data import assemble

    sources = [{"path": str(tiny_set_path), "name": "tiny"}]
    plain = assemble(tiny_config(tiny_set_path, data={"sources": sources, "eval_corpora": [], "synthetic_contrast": 40}), DATASETS, progress=False)
    bundle = assemble(tiny_config(tiny_set_path, data={"sources": sources, "eval_corpora": [], "synthetic_contrast": 40, "typo_copies": 1.0}),
                      DATASETS, progress=False)
    copies = [r for r in bundle.train if r.id.endswith("~typo")]
    originals = {r.id: r for r in plain.train}
    assert len(copies) == len(bundle.train) - len(plain.train) >= 0.9 * len(plain.train) and len(bundle.train_weights) == len(bundle.train)
    assert all(originals[c.id.removesuffix("~typo")].body != c.body for c in copies)
    assert any(c.source == "synthetic_contrast" for c in copies)  # generated rows are misspelled too
    assert [r.id for r in bundle.validation] == [r.id for r in plain.validation]  # validation and test keep their spelling
    assert [len(named.rows) for named in bundle.tests] == [len(named.rows) for named in plain.tests]


def test_a_held_out_corpus_cannot_also_train(tiny_set_path: Path) -> None:
    from tests.conftest import tiny_config
    from threadguard.errors import DataError
    from training.data import assemble

    config = tiny_config(tiny_set_path, data={"sources": [{"corpus": "olid"}], "held_out_corpora": ["olid"], "eval_corpora": []})
    with pytest.raises(DataError, match="both a training source and held out"):
        assemble(config, DATASETS, progress=False)


def test_hatecheck_as_a_training_source_is_refused(tiny_set_path: Path) -> None:
    from tests.conftest import tiny_config
    from threadguard.errors import DataError
    from training.data import assemble

    config = tiny_config(tiny_set_path, data={"sources": [{"corpus": "hatecheck"}], "eval_corpora": []})
    with pytest.raises(DataError, match="evaluation only"):
        assemble(config, DATASETS, progress=False)


def test_a_repeated_run_is_refused_before_it_fits_anything(tiny_model_dir: Path, tiny_set_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tiny model dir's own config, run again on the same day into the same models dir: refused once the data is read,
    before fitting, so a repeated 40-minute fine-tune fails in seconds instead of at its end."""
    import training.pipeline as pipeline
    from tests.conftest import tiny_config

    fitted = []
    monkeypatch.setattr(pipeline, "_fit_linear", lambda *args, **kwargs: fitted.append(1) or pytest.fail("fitted before refusing"))
    with pytest.raises(ArtifactError, match=rf"{tiny_model_dir.name} already exists .*another --models-dir"):
        pipeline.train_and_export(tiny_config(tiny_set_path), datasets_dir=DATASETS, models_root=tiny_model_dir.parent, progress=False)
    assert not fitted


def test_a_run_that_crosses_midnight_writes_the_name_it_checked(tiny_set_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock reads 23:59:59 when the name is checked before fitting and the next day afterwards: the dir keeps the
    checked day in its name (the card records when it was written), so the early refusal guards the name written."""
    import datetime as dt

    import training.pipeline as pipeline
    from tests.conftest import tiny_config

    readings = [dt.datetime(2026, 12, 5, 23, 59, 59, tzinfo=dt.UTC)]

    class Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return readings.pop(0) if readings else dt.datetime(2026, 12, 6, 0, 0, 1, tzinfo=dt.UTC)

    monkeypatch.setattr(pipeline.dt, "datetime", Clock)
    out = pipeline.train_and_export(tiny_config(tiny_set_path), datasets_dir=DATASETS, models_root=tmp_path, progress=False)
    assert out is not None and "-20261205-" in out.name
    assert read_model_dir(out, expected_labels=["hate", "insult", "off_topic"]).config.created_at.startswith("2026-12-06T00:00:01")


def test_a_source_bias_run_folds_the_in_domain_rows_own_source_whatever_the_config_calls_it(tiny_set_path: Path) -> None:
    from tests.conftest import tiny_config
    from training.data import assemble
    from training.pipeline import in_domain_source_key

    # the tiny rows say source "tiny"; the config names the source "mysite" and reports it first
    config = tiny_config(tiny_set_path, data={"sources": [{"path": str(tiny_set_path), "name": "mysite"}], "eval_corpora": [],
                                              "report_first": ["mysite"]})
    assert in_domain_source_key(config, assemble(config, DATASETS, progress=False)) == "tiny"
    unnamed = tiny_config(tiny_set_path, data={"sources": [{"path": str(tiny_set_path), "name": "mysite"}], "eval_corpora": []})
    assert in_domain_source_key(unnamed, assemble(unnamed, DATASETS, progress=False)) is None


def test_a_derived_dir_is_named_by_what_it_was_made_from(tiny_set_path: Path) -> None:
    from tests.conftest import tiny_config
    from training.data import assemble
    from training.pipeline import model_dir_name

    config = tiny_config(tiny_set_path)
    bundle = assemble(config, DATASETS, progress=False)
    hate = model_dir_name(config, bundle, tag="-heads", made_from=["tg-a", "hate"])
    assert hate == model_dir_name(config, bundle, tag="-heads", made_from=["tg-a", "hate"])  # the same refit, the same name
    assert hate != model_dir_name(config, bundle, tag="-heads", made_from=["tg-a", "insult"])  # another head
    assert hate != model_dir_name(config, bundle, tag="-heads", made_from=["tg-b", "hate"])  # another source dir
    assert model_dir_name(config, bundle).startswith("tg-tiny-") and hate.startswith("tg-tiny-heads-")


def test_insult_scope_addressee_unsets_only_that_sources_unaddressed_training_negatives(tiny_set_path: Path) -> None:
    from labels.addressee import addresses_someone
    from tests.conftest import tiny_config
    from training.data import assemble

    def bundle(scope: str):  # type: ignore[no-untyped-def]
        source = {"path": str(tiny_set_path), "name": "tiny", "insult_scope": scope}
        return assemble(tiny_config(tiny_set_path, data={"sources": [source], "eval_corpora": []}), DATASETS, progress=False)

    plain, scoped = bundle("any"), bundle("addressee")
    assert [r.id for r in scoped.train] == [r.id for r in plain.train]
    unset = [(a, b) for a, b in zip(plain.train, scoped.train, strict=True) if a.insult != b.insult]
    assert unset and all(a.insult == 0 and b.insult is None and not addresses_someone(a.body) for a, b in unset)
    assert [r.insult for r in scoped.validation] == [r.insult for r in plain.validation]  # validation keeps the corpus's labels
