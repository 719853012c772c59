"""The evaluation report: same rows for every system, bootstrap intervals, plots, peers listed with reasons."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from labels.schema import LabelledComment
from tests.conftest import DATASETS, needs_shared, tiny_config
from training.data import NamedSet
from training.pipeline import write_evaluation_report
from training.report import Scored, System, bootstrap_auc, calibration_line, write_report


def test_bootstrap_interval_brackets_the_point_estimate() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    p = y * 0.6 + rng.random(400) * 0.7
    point, lo, hi = bootstrap_auc(y, p)
    assert lo < point < hi and 0.5 < lo and hi <= 1.0
    assert bootstrap_auc(np.zeros(5, dtype=int), np.ones(5)) is None


def test_rank_auc_equals_scikit_learns_with_ties_and_float_labels() -> None:
    from sklearn.metrics import roc_auc_score

    from training.report import rank_auc

    rng = np.random.default_rng(2)
    for size in (7, 60, 3000):
        y = rng.integers(0, 2, size).astype(float)
        y[:2] = [0.0, 1.0]
        p = np.round(rng.random(size), 1)  # few distinct scores: ties across and within classes
        assert abs(rank_auc(y, p) - roc_auc_score(y, p)) < 1e-12  # type: ignore[operator]
    assert rank_auc(np.ones(4), np.arange(4.0)) is None


def test_calibration_line_reports_test_ece_per_annotated_label() -> None:
    y = np.array([[1, np.nan, 0], [0, np.nan, 0], [1, np.nan, 1], [0, np.nan, 0]], dtype=float)
    probs = np.array([[0.9, 0.1, 0.2], [0.1, 0.1, 0.2], [0.9, 0.1, 0.2], [0.1, 0.1, 0.2]], dtype=np.float32)
    line = calibration_line(Scored("t/test", y, {"m": probs}), "m")
    # hate: both bins off by 0.1; off_topic: one bin of 0.2 against 1 positive in 4, off by 0.05; insult is not annotated
    assert line == "Expected calibration error of m on this test set (10 bins): hate 0.100 (n=4, +2); off_topic 0.050 (n=4, +1)."


@pytest.mark.slow  # scores, bootstraps and plots every set
def test_report_scores_model_and_comparison_on_the_same_rows(tiny_model_dir: Path, tmp_path: Path) -> None:
    report = tmp_path / "evaluation.md"
    write_evaluation_report(tiny_model_dir, report, datasets_dir=DATASETS, compare=[tiny_model_dir], device="cpu")
    text = report.read_text()
    assert "## tiny/test" in text and "## seed" in text
    assert text.count("| tg-tiny-") >= 4  # the model and the comparison, in each set's table
    assert "Expected calibration error of tg-tiny-" in text and "on this test set (10 bins): hate" in text
    assert "detoxify 0.5.4" in text and "cannot run offline" in text
    assert "| hatesonar 0.1.0 (P(hate); insult: P(hate)+P(offensive)) |" in text  # the peer runs here, locale patched
    assert "## Unintended bias, tg-tiny-" in text and "| Muslim | 21 |" in text  # the suite's neutral and positive mentions of each group
    pngs = sorted(p.name for p in (tmp_path / "evaluation_files").glob("*.png"))
    assert "tiny-test-pr.png" in pngs and "seed-calibration.png" in pngs
    assert all((tmp_path / "evaluation_files" / name).stat().st_size > 1000 for name in pngs)
    links = re.findall(r"!\[[^]]*\]\(([^)]*)\)", text)
    assert links and all(" " not in link and (tmp_path / link).is_file() for link in links)  # every image link resolves


def test_a_report_that_fails_keeps_the_old_page_and_its_images(tmp_path: Path) -> None:
    old_plot = tmp_path / "evaluation_files" / "gone-test-pr.png"
    old_plot.parent.mkdir()
    old_plot.write_bytes(b"old")

    def broken(rows):  # type: ignore[no-untyped-def]
        raise RuntimeError("scorer died")

    rows = [LabelledComment(id="a", source="t", split="test", thread_id="t", body="x", hate=1)]
    with pytest.raises(RuntimeError, match="scorer died"):
        write_report(tmp_path / "evaluation.md", [NamedSet("t/test", rows)], [System("m", broken)], main="m", hatecheck=None)
    assert old_plot.read_bytes() == b"old"


def test_a_system_that_trained_on_a_held_out_corpus_is_marked_on_its_set(tmp_path: Path) -> None:
    """A baseline that trained on ToxicSpans, beside a model that held ToxicSpans out, is not a cross-domain comparison:
    its row on the held-out set carries the mark and the reason, and only there."""
    rng = np.random.default_rng(3)
    rows = [LabelledComment(id=str(i), source="c", split="test", thread_id="t", body=f"comment {i}", hate=int(i % 3 == 0)) for i in range(30)]

    def predict(batch):  # type: ignore[no-untyped-def]
        return rng.random((len(batch), 3)).astype(np.float32)

    sets = [NamedSet("c/test (held out)", rows, held_out="c"), NamedSet("d/test", rows)]
    systems = [System("main", predict), System("baseline", predict, trained_on=frozenset({"c", "d"})), System("other", predict, trained_on=frozenset({"d"}))]
    write_report(tmp_path / "evaluation.md", sets, systems, main="main", hatecheck=None)
    held_out, plain = (tmp_path / "evaluation.md").read_text().split("## d/test")
    assert "| baseline † |" in held_out and "| other |" in held_out and "| main |" in held_out
    assert "† trained on c's training split, which main never saw" in held_out
    assert "†" not in plain  # d is not held out: every system may have trained on it


def test_trained_corpora_reads_a_model_dirs_recorded_sources() -> None:
    from training.pipeline import trained_corpora

    config = {"name": "b", "kind": "linear", "data": {"sources": [{"corpus": "olid"}, {"path": "labels/data/inhouse.jsonl", "name": "inhouse"}],
                                                      "held_out_corpora": ["toxicspans"]}}
    assert trained_corpora(config) == frozenset({"olid"})


def test_a_new_report_of_an_int8_only_dir_lists_what_is_missing_and_drops_stale_plots(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    """One report, two checks (a report takes ~20 s of the edit loop): the committed default carries int8 only, so its
    report names the runtimes it cannot score; and plots of sets the new report no longer has are removed."""
    import shutil

    int8_only = tmp_path / tiny_transformer_dir.name
    shutil.copytree(tiny_transformer_dir, int8_only, ignore=shutil.ignore_patterns("hf", "model.onnx"))
    stale = tmp_path / "evaluation_files" / "gone-test-pr.png"
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    report = tmp_path / "evaluation.md"
    write_evaluation_report(int8_only, report, datasets_dir=DATASETS, compare=[], device="cpu")
    assert not stale.exists()
    text = report.read_text()
    for runtime in ("onnx", "torch"):
        assert f"- **{int8_only.name} ({runtime})**: not in this dir: its full-precision weights are not committed" in text
    assert f"| {int8_only.name} (onnx-int8) |" in text and f"| {int8_only.name} (torch) |" not in text


def test_hatecheck_tables_count_each_case_at_half_and_at_the_review_threshold() -> None:
    """A hateful case scored 0.3 fails at 0.5 but reaches review at 0.2; a harmless one at 0.3 is the reverse."""
    from training.report import hatecheck_tables

    rows = [LabelledComment(id=f"c{i}", source="hatecheck", split="test", thread_id="h", body=f"case {i}", hate=h)
            for i, h in enumerate([1, 1, 0, 0])]
    cases = {"c0": ("slur_h", "women"), "c1": ("slur_h", "women"), "c2": ("ident_neutral_nh", "women"), "c3": ("ident_neutral_nh", "none")}
    probs = np.array([[0.9, 0, 0], [0.3, 0, 0], [0.1, 0, 0], [0.3, 0, 0]], dtype=np.float32)

    lines = hatecheck_tables(NamedSet("hatecheck/test", rows), probs, cases, review=0.2)
    text = "\n".join(lines)
    assert "Overall accuracy at 0.5: **0.750** on 4 cases." in text  # c1 missed
    assert "threshold 0.200" in text and "**0.750**, the share" in text  # c3 sent to review instead
    assert "| slur_h | 2 | 0.500 | 1.000 |" in text
    assert "| ident_neutral_nh | 2 | 1.000 | 0.500 |" in text
    assert "| women | 3 | 0.667 | 1.000 |" in text and "| none | 1 | 1.000 | 0.000 |" in text

    without = "\n".join(hatecheck_tables(NamedSet("hatecheck/test", rows), probs, cases))
    assert "| slur_h | 2 | 0.500 |" in without and "review" not in without

    # c1 missed as hate but held (as an insult, say); c2 held too: a share held per group, not an accuracy
    held = np.array([True, True, True, False])
    text = "\n".join(hatecheck_tables(NamedSet("hatecheck/test", rows), probs, cases, review=0.2, held=held))
    assert "1.000 of the hateful cases and 0.500 of the others" in text
    assert "| functionality | n | accuracy at 0.5 | at review | held (any label) |" in text
    assert "| slur_h | 2 | 0.500 | 1.000 | 1.000 |" in text and "| ident_neutral_nh | 2 | 1.000 | 0.500 | 0.500 |" in text
    assert "| none | 1 | 1.000 | 0.000 | 0.000 |" in text


@needs_shared
@pytest.mark.slow  # trains a tiny model and scores HateCheck's 3,728 cases with it and the peers
def test_the_hatecheck_table_holds_what_the_service_would_hold(tiny_set_path: Path, tmp_path: Path) -> None:
    """The report's "held (any label)" share is the service's own decision on each HateCheck case, not a cut of hate."""
    import csv
    import gzip
    import json

    from serving.model import Decision, open_scorer
    from training.pipeline import train_and_export

    data = {"sources": [{"path": str(tiny_set_path), "name": "tiny", "off_topic_pairs": True}], "eval_corpora": ["hatecheck"]}
    config = tiny_config(tiny_set_path, data=data)
    model_dir = train_and_export(config, datasets_dir=DATASETS, models_root=tmp_path / "models", make_current=False,
                                 progress=False)
    with gzip.open(DATASETS / "hatecheck2021" / "test_suite_cases.csv.gz", "rt", encoding="utf-8") as f:
        cases = list(csv.DictReader(f))
    items = [LabelledComment(id=str(i), source="hatecheck", split="test", thread_id="h", body=row["test_case"])
             for i, row in enumerate(cases)]
    # The tiny model's own thresholds allow every case; these send some to review on hate, others on insult alone
    probs = open_scorer(model_dir, device="cpu").predict_proba(items)
    cuts = {label: np.quantile(probs[:, j], [0.5, 0.8]) for j, label in enumerate(["hate", "insult"])}
    thresholds = {label: {"review": float(review), "reject": float(reject)} for label, (review, reject) in cuts.items()}
    (model_dir / "thresholds.json").write_text(json.dumps({**thresholds, "off_topic": {"review": 0.99, "reject": 1.0}}))

    report = tmp_path / "evaluation.md"
    write_evaluation_report(model_dir, report, datasets_dir=DATASETS, compare=[], device="cpu")
    text = report.read_text()
    assert "| functionality | n | accuracy at 0.5 | at review | held (any label) |" in text
    decided = open_scorer(model_dir, device="cpu").score(items)
    assert {scored.decision for scored in decided} == set(Decision)
    held_by: dict[str, list[bool]] = {}
    for row, scored in zip(cases, decided, strict=True):
        held_by.setdefault(row["functionality"], []).append(scored.decision != Decision.allow)
    table = {m.group(1): (int(m.group(2)), float(m.group(3)))
             for m in re.finditer(r"^\| (\w+_n?h) \| (\d+) \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|$", text, re.M)}
    assert table.keys() == held_by.keys()
    for functionality, held in held_by.items():
        assert table[functionality] == (len(held), pytest.approx(np.mean(held), abs=5e-4)), functionality
