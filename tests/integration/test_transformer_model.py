"""A tiny fine-tuned encoder through export: HF weights, fp32 ONNX, int8 ONNX, calibration, serving."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from labels.sets import read_jsonl
from serving.model import decide, open_scorer
from threadguard.settings import PROJECT_ROOT

SAMPLE = PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl"


def _sample(n: int = 300):
    return read_jsonl(SAMPLE)[:n]


def test_transformer_dir_holds_weights_onnx_int8_and_calibration(tiny_transformer_dir: Path) -> None:
    names = {str(p.relative_to(tiny_transformer_dir)) for p in tiny_transformer_dir.rglob("*") if p.is_file()}
    assert {"hf/model.safetensors", "hf/config.json", "heads.safetensors", "model.onnx", "model.int8.onnx", "tokenizer.json", "thresholds.json", "MODEL_CARD.md"} <= names
    backend = json.loads((tiny_transformer_dir / "config.json").read_text())["backend"]
    assert set(backend["calibration"]) == {"hate", "insult", "off_topic"}
    assert all(c["temperature"] > 0 for c in backend["calibration"].values())
    assert backend["fine_tuned_on"] == {"device": "cpu", "precision": "fp32"}
    assert f"- Fine-tuned on cpu in fp32 (transformer.mixed_precision), {backend['steps']} steps" in (tiny_transformer_dir / "MODEL_CARD.md").read_text()


@pytest.mark.slow  # a second tiny training run end to end, about 20 s
def test_a_source_bias_run_records_each_sources_bias_and_the_folded_one_in_config_and_card(
        tiny_set_path: Path, tiny_encoder_path: Path, tmp_path: Path) -> None:
    from tests.conftest import DATASETS, tiny_transformer_config
    from training.pipeline import train_and_export

    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, source_bias="all")
    # the config calls the source "mysite"; its rows say "tiny": the heads carry the bias those rows trained
    sources = [config.data.sources[0].model_copy(update={"name": "mysite"})]
    config = config.model_copy(update={"data": config.data.model_copy(update={"sources": sources, "report_first": ["mysite"]})})
    out = train_and_export(config, datasets_dir=DATASETS, models_root=tmp_path, progress=False, device="cpu")
    recorded = json.loads((out / "config.json").read_text())["backend"]["source_bias"]
    assert recorded["folded"] == "tiny" and set(recorded["biases"]) == {"tiny"} and len(recorded["biases"]["tiny"]) == 3
    assert "The heads carry tiny's." in (out / "MODEL_CARD.md").read_text()


def test_the_card_lists_each_sources_bias(tiny_transformer_dir: Path) -> None:
    from threadguard.artifact import read_model_dir
    from training.card import render_card

    opened = read_model_dir(tiny_transformer_dir, expected_labels=["hate", "insult", "off_topic"])
    backend = {**opened.config.backend, "source_bias": {"folded": "inhouse", "biases": {"inhouse": [-0.5, 0.5, 0.1], "olid": [0.0, 0.41, 0.0]}}}
    card = render_card(opened.config.model_copy(update={"backend": backend}), opened.thresholds, opened.metrics)
    assert "inhouse -0.50 / +0.50 / +0.10; olid +0.00 / +0.41 / +0.00. The heads carry inhouse's." in card
    unfolded = {**backend, "source_bias": {**backend["source_bias"], "folded": None}}
    card = render_card(opened.config.model_copy(update={"backend": unfolded}), opened.thresholds, opened.metrics)
    assert "The heads carry none of them (no source named in data.report_first trained)." in card
    # a run that biased hate and insult alone says off_topic had none
    backend["source_bias"]["labels"] = ["hate", "insult"]
    card = render_card(opened.config.model_copy(update={"backend": backend}), opened.thresholds, opened.metrics)
    assert "+0.00 / +0.41 / +0.00. off_topic had none (transformer.source_bias_labels). The heads carry inhouse's." in card


def test_int8_file_is_quantised_per_token_from_the_smoothed_graph_the_config_asks_for(tiny_transformer_dir: Path) -> None:
    import onnx

    from training.smoothing import SMOOTH_SUFFIX

    int8 = json.loads((tiny_transformer_dir / "config.json").read_text())["backend"]["int8"]
    assert int8["smoothing_alpha"] == 0.65 and int8["activations"] == "per_token" and int8["calibration_texts"] > 0
    assert int8["outlier_channels"] == 4
    # The card tells an operator the same, in words.
    card = (tiny_transformer_dir / "MODEL_CARD.md").read_text()
    runtimes = card.split("## Runtimes")[1].split("##")[0]
    assert "activations uint8 with a scale per token" in runtimes and "alpha 0.65" in runtimes
    assert "4 largest channels kept in fp32" in runtimes
    assert f"calibrated on {int8['calibration_texts']} training texts" in runtimes
    nodes = onnx.load(str(tiny_transformer_dir / "model.int8.onnx")).graph.node
    smoothed = [n for n in nodes if n.output[0].endswith(SMOOTH_SUFFIX)]
    assert len(smoothed) == 2 * 4  # per layer: query/key/value's shared input, attention output, FFN input, FFN output
    ops = [n.op_type for n in nodes]
    assert ops.count("MatMulIntegerToFloat") == 2 * 6 and ops.count("QuantizeLinear") == 2 * 4 and "DynamicQuantizeMatMul" not in ops
    assert len([n for n in nodes if n.op_type == "Gather" and n.name.endswith("Outliers")]) == 2 * 4  # each quantised input's fp32 channels
    fp32 = onnx.load(str(tiny_transformer_dir / "model.onnx")).graph.node
    assert not [n for n in fp32 if n.output[0].endswith(SMOOTH_SUFFIX)]  # model.onnx stays the plain export PyTorch is checked against


def test_fp32_onnx_matches_pytorch(tiny_transformer_dir: Path) -> None:
    rows = _sample()
    torch_scores = open_scorer(tiny_transformer_dir, device="cpu", runtime="torch").predict_proba(rows)
    onnx_scores = open_scorer(tiny_transformer_dir, device="cpu", runtime="onnx").predict_proba(rows)
    assert np.abs(torch_scores - onnx_scores).max() < 1e-3


def test_torch_bf16_runs_the_hf_weights_in_bf16_close_to_float32(tiny_transformer_dir: Path) -> None:
    import torch

    rows = _sample()
    fp32 = open_scorer(tiny_transformer_dir, device="cpu", runtime="torch")
    bf16 = open_scorer(tiny_transformer_dir, device="cpu", runtime="torch-bf16")
    assert {p.dtype for p in bf16.backend.torch_model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in fp32.backend.torch_model.parameters()} == {torch.float32}
    gap = np.abs(bf16.predict_proba(rows) - fp32.predict_proba(rows))
    # bf16 arithmetic, not float32's, to bf16's three significant digits (the real default: at most 0.0086, mean 0.0005)
    assert 0 < gap.max() < 0.1 and gap.mean() < 0.005


def test_the_settings_runtime_reaches_the_service_scorer(tiny_transformer_dir: Path) -> None:
    from serving.api import default_scorer_factory
    from threadguard.settings import Settings

    assert default_scorer_factory(Settings(model_dir=tiny_transformer_dir, device="cpu")).backend.runtime == "onnx-int8"
    chosen = default_scorer_factory(Settings(model_dir=tiny_transformer_dir, device="cpu", runtime="torch-bf16"))
    assert chosen.backend.runtime == "torch-bf16"


def test_int8_scores_stay_close_to_fp32_on_the_tiny_model(tiny_transformer_dir: Path) -> None:
    # A 32-wide random encoder crowds every score near the thresholds, so its decisions are not a fair
    # test of quantisation; the decision-agreement contract is checked on the real default model below.
    rows = _sample()
    fp32 = open_scorer(tiny_transformer_dir, device="cpu", runtime="onnx").predict_proba(rows)
    int8 = open_scorer(tiny_transformer_dir, device="cpu", runtime="onnx-int8").predict_proba(rows)
    assert np.abs(fp32 - int8).mean() < 0.02


# The real model the parity contract is about: THREADGUARD_PARITY_MODEL, else the default model.
REAL = Path(os.environ.get("THREADGUARD_PARITY_MODEL", PROJECT_ROOT / "models" / "current"))


def _full_transformer(path: Path) -> bool:
    config = path / "config.json"
    return config.is_file() and json.loads(config.read_text())["kind"] == "transformer" and (path / "model.onnx").is_file() and (path / "hf").is_dir()


needs_full_real = pytest.mark.skipif(
    not _full_transformer(REAL), reason="needs a transformer dir with model.onnx and hf/ (THREADGUARD_PARITY_MODEL, or rebuild the default: see README)"
)


@needs_full_real
def test_real_model_parity_fp32_onnx_vs_torch() -> None:
    rows = _sample(200)
    torch_scores = open_scorer(REAL, device="cpu", runtime="torch").predict_proba(rows)
    assert np.abs(open_scorer(REAL, device="cpu", runtime="onnx").predict_proba(rows) - torch_scores).max() < 1e-3


def _int8_activations(path: Path) -> str:
    """How the dir's int8 file quantises activations: dirs exported before per-token int8 record none (per tensor)."""
    config = path / "config.json"
    int8 = json.loads(config.read_text()).get("backend", {}).get("int8", {}) if config.is_file() else {}
    return int8.get("activations", "per_tensor")


@needs_full_real
@pytest.mark.xfail(_int8_activations(REAL) == "per_tensor", strict=True,
                   reason="issue 7: per-tensor dynamic int8 agrees with fp32 on 95-96% of decisions on full runs, 96-97% with activation "
                          "smoothing, below the 99% target (docs/benchmarks.md, int8 agreement and smoothing); per-token int8 reaches it")
def test_real_model_int8_agrees_with_fp32_on_99_percent_of_decisions() -> None:
    rows = _sample(1000)
    fp32 = open_scorer(REAL, device="cpu", runtime="onnx").score(rows)
    int8 = open_scorer(REAL, device="cpu", runtime="onnx-int8").score(rows)
    agreement = float(np.mean([x.decision == y.decision for x, y in zip(fp32, int8, strict=True)]))
    assert agreement >= 0.99, f"int8 agrees with fp32 on {agreement:.1%} of {len(rows)} decisions"


def test_int8_scores_a_comment_the_same_alone_as_in_any_batch(tiny_transformer_dir: Path) -> None:
    """The service pools concurrent requests into one batch; a comment's score must not depend on its batch-mates."""
    scorer = open_scorer(tiny_transformer_dir, device="cpu", runtime="onnx-int8")
    rows = _sample(64)
    batched = scorer.predict_proba(rows)
    alone = np.concatenate([scorer.predict_proba([row]) for row in rows[:16]])
    reversed_batch = scorer.predict_proba(rows[::-1])[::-1]
    assert np.abs(alone - batched[:16]).max() < 1e-5
    assert np.abs(reversed_batch - batched).max() < 1e-5


@pytest.mark.parametrize("runtime", ["onnx-int8", "onnx", "torch"])
def test_batches_cut_by_length_pad_less_and_score_the_same(tiny_transformer_dir: Path, runtime: str) -> None:
    """On CPU a batch of comments of mixed lengths runs as a few batches of similar lengths (serving.transformer.padding_plan)."""
    from serving.transformer import RUN_OVERHEAD_TOKENS

    scorer = open_scorer(tiny_transformer_dir, device="cpu", runtime=runtime)
    backend = scorer.backend
    assert backend.run_overhead == RUN_OVERHEAD_TOKENS
    shapes: list[tuple[int, int]] = []
    run = backend._run
    backend._run = lambda batch: (shapes.append(batch["input_ids"].shape), run(batch))[1]
    rows = _sample(64)
    cut = scorer.predict_proba(rows)
    cut_shapes, shapes[:] = list(shapes), []
    backend.run_overhead = None
    backend.forget_articles()  # so the articles run again, in fixed batches
    fixed = scorer.predict_proba(rows)
    assert np.abs(cut - fixed).max() < 1e-5
    assert len(cut_shapes) > len(shapes)
    assert sum(n * width for n, width in cut_shapes) < 0.7 * sum(n * width for n, width in shapes)


@pytest.mark.parametrize("runtime", ["onnx-int8", "onnx"])
def test_on_several_cores_a_batch_runs_a_slice_of_rows_per_core_and_scores_as_one_run(tiny_transformer_dir: Path, runtime: str) -> None:
    """ONNX Runtime's intra-op threads gain little on small matrices; a batch's row slices on single-threaded runs, all at
    once, use the cores better (serving/row_parallel.py) and give the same scores."""
    from serving.transformer import INT8_PRECISION_ENTRY
    from tests.fixtures.session import session_entry

    scorer = open_scorer(tiny_transformer_dir, device="cpu", runtime=runtime, threads=2)
    backend = scorer.backend
    assert backend.row_runs is not None and backend.row_runs.parts == 2
    options = backend.row_runs.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert session_entry(options, INT8_PRECISION_ENTRY) == session_entry(backend.session.get_session_options(), INT8_PRECISION_ENTRY)
    calls: list[int] = []
    run = backend.row_runs.session.run
    backend.row_runs.session.run = lambda outputs, feed: (calls.append(len(feed["input_ids"])), run(outputs, feed))[1]
    rows = _sample(64)
    parallel = scorer.predict_proba(rows)
    assert len(calls) >= 2 and sum(calls) >= 64
    backend.row_runs = None
    backend.forget_articles()
    assert np.abs(parallel - scorer.predict_proba(rows)).max() < 1e-5
    assert open_scorer(tiny_transformer_dir, device="cpu", runtime=runtime, threads=1).backend.row_runs is None
    assert open_scorer(tiny_transformer_dir, device="cpu", runtime="torch", threads=2).backend.row_runs is None


def test_cpu_default_is_int8_onnx_and_round_trip_is_stable(tiny_transformer_dir: Path) -> None:
    scorer = open_scorer(tiny_transformer_dir, device="cpu")
    assert scorer.backend.runtime == "onnx-int8"
    assert scorer.backend.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning") == "0"
    rows = _sample(50)
    first = scorer.predict_proba(rows)
    assert np.array_equal(first, open_scorer(tiny_transformer_dir, device="cpu").predict_proba(rows))
    assert first.shape == (50, 3) and ((first >= 0) & (first <= 1)).all()
    for scored in scorer.score(rows[:5]):
        assert scored.decision == decide(scored.scores, scorer.thresholds)


def test_int8_runs_without_saturation_unless_the_settings_trade_it_for_speed(tiny_transformer_dir: Path) -> None:
    """On x86 CPUs without VNNI ONNX Runtime's uint8 x int8 kernel saturates (serving.transformer.onnx_session_options);
    there the service asks for the exact kernel unless THREADGUARD_INT8_PRECISION=false. VNNI CPUs never saturate, and
    the option would only slow them."""
    from serving.api import default_scorer_factory
    from serving.transformer import INT8_PRECISION_ENTRY, int8_can_saturate
    from tests.fixtures.session import session_entry
    from threadguard.settings import Settings

    def entry(scorer) -> str:  # type: ignore[no-untyped-def]
        return session_entry(scorer.backend.session.get_session_options(), INT8_PRECISION_ENTRY)

    exact = "1" if int8_can_saturate() else "unset"
    assert entry(open_scorer(tiny_transformer_dir, device="cpu")) == exact
    assert entry(default_scorer_factory(Settings(model_dir=tiny_transformer_dir, device="cpu"))) == exact
    fast = default_scorer_factory(Settings(model_dir=tiny_transformer_dir, device="cpu", int8_precision=False))
    assert entry(fast) == "unset"
    rows = _sample(100)
    fp32 = open_scorer(tiny_transformer_dir, device="cpu", runtime="onnx").predict_proba(rows)
    precise = np.abs(open_scorer(tiny_transformer_dir, device="cpu").predict_proba(rows) - fp32).max()
    assert precise <= np.abs(fast.predict_proba(rows) - fp32).max() + 1e-6  # equal with VNNI, closer to fp32 without


@contextmanager
def _word_embeddings_negated(model) -> Iterator[None]:  # type: ignore[no-untyped-def]
    weight = model.embeddings.word_embeddings.weight
    saved = weight.data.clone()
    weight.data.neg_()
    try:
        yield
    finally:
        weight.data.copy_(saved)


def test_forgetting_articles_re_embeds_them_with_the_encoder_as_it_now_is(tiny_transformer_dir: Path) -> None:
    """The article cache is keyed by text alone: a bench that changes the encoder's arithmetic must be able to drop it."""
    scorer = open_scorer(tiny_transformer_dir, device="cpu", runtime="torch")
    backend = scorer.backend
    rows = [r for r in _sample(50) if r.article_title or r.article_text][:10]
    assert rows
    before = scorer.predict_proba(rows)
    assert backend.cached_articles > 0
    with _word_embeddings_negated(backend.torch_model):  # the encoder now computes something else
        stale = scorer.predict_proba(rows)  # comments re-embedded, articles from the cache
        backend.forget_articles()
        assert backend.cached_articles == 0
        fresh = scorer.predict_proba(rows)
    assert not np.allclose(stale, fresh)  # the cached article vectors were the old encoder's
    backend.forget_articles()
    assert np.allclose(scorer.predict_proba(rows), before, atol=1e-6)


def test_recalibration_reuses_weights_and_writes_a_new_dir(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    from tests.conftest import DATASETS
    from training.pipeline import recalibrate_model_dir

    new = recalibrate_model_dir(tiny_transformer_dir, datasets_dir=DATASETS, models_root=tmp_path)
    assert new != tiny_transformer_dir and "-recal-" in new.name
    for name in ("model.int8.onnx", "model.onnx", "hf/config.json", "hf/model.safetensors", "tokenizer.json"):
        assert (new / name).read_bytes() == (tiny_transformer_dir / name).read_bytes(), name
    assert open_scorer(new, device="cpu", runtime="torch").predict_proba(_sample(5)).shape == (5, 3)
    backend = json.loads((new / "config.json").read_text())["backend"]
    assert set(backend["bias"]) == {"hate", "insult", "off_topic"}
    calibration = backend["calibration"].values()
    # Platt scaling minimises NLL, not binned ECE, so compare the mean over labels with a small tolerance.
    assert np.mean([c["ece_after"] for c in calibration]) <= np.mean([c["ece_before"] for c in calibration]) + 0.01
    rows = _sample(20)
    assert open_scorer(new, device="cpu").predict_proba(rows).shape == (20, 3)


def test_refit_heads_writes_a_new_dir_with_the_encoder_and_other_heads_unchanged(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    from labels.schema import Label
    from serving.heads import HEADS_FILE, Heads
    from tests.conftest import DATASETS
    from training.head_refit import GROWN_INHOUSE, refit_model_dir

    dest = refit_model_dir(tiny_transformer_dir, [Label.off_topic], overrides=["data.parent_swap_pairs=true"], datasets_dir=DATASETS, models_root=tmp_path,
                           guard_set=GROWN_INHOUSE)
    assert dest.parent == tmp_path and dest.name.startswith("tg-tinytf-heads-")
    for name in ("model.int8.onnx", "model.onnx", "tokenizer.json", "hf/model.safetensors"):
        assert (dest / name).read_bytes() == (tiny_transformer_dir / name).read_bytes(), name
    old, new = Heads.load(tiny_transformer_dir / HEADS_FILE), Heads.load(dest / HEADS_FILE)
    assert np.array_equal(old.comment_weight, new.comment_weight) and np.array_equal(old.comment_bias, new.comment_bias)
    config = json.loads((dest / "config.json").read_text())
    refit = config["backend"]["head_refit"]
    assert refit["labels"] == ["off_topic"] and refit["overrides"] == ["data.parent_swap_pairs=true"] and "inf" in refit["fits"][0]["validation_roc_auc"]
    assert refit["guard_set"] == "inhouse-extended.jsonl"
    assert config["train_config"]["data"]["parent_swap_pairs"] is True
    assert json.loads((dest / "metrics.json").read_text())["eval_sets"]  # scored through serving like a trained dir
    card = (dest / "MODEL_CARD.md").read_text()
    assert "## How it was made" in card and f"over the encoder of `{tiny_transformer_dir.name}`" in card and "`data.parent_swap_pairs=true`" in card
    scored = open_scorer(dest, device="cpu").predict_proba(_sample(20))
    assert scored.shape == (20, 3) and np.allclose(scored[:, :2], open_scorer(tiny_transformer_dir, device="cpu").predict_proba(_sample(20))[:, :2], atol=1e-5)


def test_refit_heads_with_source_bias_fits_an_offset_per_source_and_keeps_the_served_source_at_zero(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    from labels.schema import Label
    from tests.conftest import DATASETS
    from training.head_refit import refit_model_dir

    dest = refit_model_dir(tiny_transformer_dir, [Label.insult], datasets_dir=DATASETS, models_root=tmp_path,
                           overrides=['transformer.source_bias="corpora"', 'transformer.source_bias_labels=["insult"]', "data.report_first=[\"tiny\"]",
                                      "data.synthetic_spam=40"])
    fit = json.loads((dest / "config.json").read_text())["backend"]["head_refit"]["fits"][0]
    assert fit["label"] == "insult"
    # one source besides the generators: it is the one the heads serve, so its offset is the head's own bias (0); the
    # generators' rows keep the gap fine-tuning left (none recorded here: 0)
    assert fit["source_offsets"] == {"tiny": 0.0, "generated": 0.0}
    assert "a logit offset per training source from the served one, fit with it and not served: tiny +0.00, generated +0.00" in (dest / "MODEL_CARD.md").read_text()


def test_refit_heads_cli_rejects_an_unknown_label_in_one_line(tiny_transformer_dir: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "from threadguard.cli import run; run()", "refit-heads", str(tiny_transformer_dir), "--label", "spam"],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60, check=False)
    assert result.returncode == 2 and next(l for l in result.stderr.splitlines() if l.startswith("error:")).startswith("error: --label must be one of hate, insult, off_topic")


def test_calibrate_can_add_a_spam_head_over_the_same_encoder_and_drop_it_again(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    import random

    from labels.schema import LabelledComment
    from serving.heads import HEADS_FILE, Heads
    from tests.conftest import DATASETS
    from training.pipeline import recalibrate_model_dir
    from training.spam import spam_text

    new = recalibrate_model_dir(tiny_transformer_dir, datasets_dir=DATASETS, models_root=tmp_path,
                                overrides=["data.synthetic_spam=300", "transformer.spam_head=true"])
    for name in ("model.int8.onnx", "model.onnx", "tokenizer.json", "hf/model.safetensors"):
        assert (new / name).read_bytes() == (tiny_transformer_dir / name).read_bytes(), name
    old_heads, heads = Heads.load(tiny_transformer_dir / HEADS_FILE), Heads.load(new / HEADS_FILE)
    assert heads.has_spam and not old_heads.has_spam and np.array_equal(heads.context_weight, old_heads.context_weight)
    report = json.loads((new / "config.json").read_text())["backend"]["spam_head"]
    assert report["rows"]["pitches"] > 200 and str(report["C"]) in report["held_out_offer_recall"]
    card = (new / "MODEL_CARD.md").read_text()
    assert "## Spam head" in card and f"`threadguard calibrate` over `{tiny_transformer_dir.name}`" in card and "`transformer.spam_head=true`" in card
    assert f"within {report['recall_slack_pitches']} pitches of the best" in card

    # pitches written with a seed training never used, under real articles, against real comments under theirs
    comments = _sample(60)
    rng = random.Random(99)
    pitches = [LabelledComment(id=f"p{i}", source="probe", split="test", thread_id=r.thread_id, body=spam_text(rng), article_title=r.article_title,
                               article_text=r.article_text) for i, r in enumerate(comments[:30])]
    scorer = open_scorer(new, device="cpu")
    with_spam = scorer.predict_proba(pitches + comments)
    scorer.backend.heads = heads.with_spam(None, None)  # type: ignore[attr-defined]
    without = scorer.predict_proba(pitches + comments)
    assert np.array_equal(with_spam[:, :2], without[:, :2]) and np.all(with_spam[:, 2] >= without[:, 2] - 1e-6)
    p_spam = (with_spam[:, 2] - without[:, 2]) / (1 - without[:, 2])  # what the noisy OR added, as the spam head's probability
    from sklearn.metrics import roc_auc_score

    # the tiny 2-layer encoder separates little (0.77 here); a head fit to noise, or inverted, sits at or under 0.5
    assert roc_auc_score([1] * 30 + [0] * 60, p_spam) > 0.7

    # sent without its article, a comment's off_topic is the spam head's probability alone, and it decides
    from labels.schema import Label

    scorer.backend.heads = heads  # type: ignore[attr-defined]
    bare = [LabelledComment(id=f"b{i}", source="probe", split="test", thread_id="t", body=p.body) for i, p in enumerate(pitches[:5] + comments[:5])]
    scored = scorer.score(bare)
    expected = heads.spam_probability(scorer.backend.embed_parts(scorer.as_trained(bare)).comment)  # type: ignore[attr-defined]
    np.testing.assert_allclose([r.scores[Label.off_topic] for r in scored], expected, atol=1e-6)
    assert all(Label.off_topic in r.judged for r in scored)

    # the bare pitches join the head's positives only when asked for, and the card says so
    from training.spam_head import bare_pitch_rows

    assert "bare ones" not in card
    bare_dir = recalibrate_model_dir(new, datasets_dir=DATASETS, models_root=tmp_path, overrides=["transformer.spam_bare_pitches=true"])
    bare_report = json.loads((bare_dir / "config.json").read_text())["backend"]["spam_head"]
    assert bare_report["rows"]["pitches"] == report["rows"]["pitches"] + len(bare_pitch_rows())
    assert "(bare ones of a few words among them)" in (bare_dir / "MODEL_CARD.md").read_text()

    dropped = recalibrate_model_dir(new, datasets_dir=DATASETS, models_root=tmp_path, overrides=["transformer.spam_head=false"])
    assert not Heads.load(dropped / HEADS_FILE).has_spam and "spam_head" not in json.loads((dropped / "config.json").read_text())["backend"]
    assert all(Label.off_topic not in r.judged for r in open_scorer(dropped, device="cpu").score(bare))  # no spam head: not judged without an article


def test_calibrate_cli_says_in_one_line_that_a_spam_head_needs_pitches(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "from threadguard.cli import run; run()", "calibrate", str(tiny_transformer_dir),
                             "--set", "transformer.spam_head=true", "--models-dir", str(tmp_path)],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120, check=False)
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "data.synthetic_spam" in errors[0]
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_recalibration_with_new_int8_settings_quantises_model_onnx_anew(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    """`threadguard calibrate DIR --set transformer.int8_outlier_channels=2 --set transformer.int8_fused_epilogues=true`:
    same fp32 weights, a new int8 file made the new way from them (fused, as `train`'s export with minilm.toml does),
    recorded in config.json and the card, and calibration fit on its scores."""
    import onnx

    from tests.conftest import DATASETS
    from training.pipeline import recalibrate_model_dir

    new = recalibrate_model_dir(tiny_transformer_dir, datasets_dir=DATASETS, models_root=tmp_path,
                                overrides=["transformer.int8_outlier_channels=2", "transformer.int8_fused_epilogues=true"])
    for name in ("model.onnx", "hf/model.safetensors", "tokenizer.json"):
        assert (new / name).read_bytes() == (tiny_transformer_dir / name).read_bytes(), name
    assert (new / "model.int8.onnx").read_bytes() != (tiny_transformer_dir / "model.int8.onnx").read_bytes()
    nodes = onnx.load(str(new / "model.int8.onnx")).graph.node
    assert [n.op_type for n in nodes].count("MatMulIntegerToFloat") == 2 * 6
    corrections = [t for t in onnx.load(str(new / "model.int8.onnx")).graph.initializer if t.name.endswith("correction_right")]
    assert len(corrections) == 2 * 6 and {t.dims[0] for t in corrections} == {1 + 2 + 1}  # zero points' row, 2 outlier rows, the bias
    assert not [n for n in nodes if n.op_type == "Add" and any(i.endswith("bias") for i in n.input)]  # every bias inside its Gemm
    backend = json.loads((new / "config.json").read_text())["backend"]
    assert backend["int8"]["outlier_channels"] == 2 and backend["int8"]["smoothing_alpha"] == 0.65 and backend["recalibrated"]["int8_requantised"]
    assert backend["int8"]["fused_epilogues"] is True
    card = (new / "MODEL_CARD.md").read_text()
    assert "quantised anew" in card and "2 largest channels kept in fp32" in card and "smoothing and biases folded" in card
    rows = _sample(50)
    fp32 = open_scorer(new, device="cpu", runtime="onnx").predict_proba(rows)
    assert np.abs(open_scorer(new, device="cpu", runtime="onnx-int8").predict_proba(rows) - fp32).mean() < 0.02


def test_new_int8_settings_on_a_dir_without_fp32_graph_are_refused_before_any_data_is_read(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    """The committed default ships int8 only: asking it for a new int8 file must say what is missing, not fail later."""
    import shutil

    from tests.conftest import DATASETS
    from threadguard.errors import ArtifactError
    from training.pipeline import recalibrate_model_dir

    int8_only = tmp_path / "int8-only"
    shutil.copytree(tiny_transformer_dir, int8_only, ignore=shutil.ignore_patterns("model.onnx", "hf"))
    with pytest.raises(ArtifactError, match="no model.onnx to quantise anew"):
        recalibrate_model_dir(int8_only, datasets_dir=DATASETS / "missing", models_root=tmp_path / "out",
                              overrides=["transformer.int8_outlier_channels=2"])
    assert not (tmp_path / "out").exists()


def test_calibrate_fuses_the_int8_epilogues_of_a_dir_that_ships_int8_only(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    """`threadguard calibrate DIR --set transformer.int8_fused_epilogues=true` on a dir without fp32 weights (as the
    committed default ships): the same int8 weights, the bias Adds gone, recorded, and scores as the unfused graph's."""
    import shutil

    import onnx

    from tests.conftest import DATASETS
    from training.pipeline import recalibrate_model_dir

    int8_only = tmp_path / "int8-only"
    shutil.copytree(tiny_transformer_dir, int8_only, ignore=shutil.ignore_patterns("model.onnx", "hf"))
    new = recalibrate_model_dir(int8_only, datasets_dir=DATASETS, models_root=tmp_path / "out", overrides=["transformer.int8_fused_epilogues=true"])
    before, after = (onnx.load(str(d / "model.int8.onnx")).graph for d in (int8_only, new))
    int8 = onnx.TensorProto.INT8
    assert {t.name: t.raw_data for t in before.initializer if t.data_type == int8} == {t.name: t.raw_data for t in after.initializer if t.data_type == int8}
    adds = [[n for n in g.node if n.op_type == "Add" and any(i.endswith("bias") for i in n.input)] for g in (before, after)]
    assert len(adds[0]) == 2 * 6 and adds[1] == []  # each of the 2 layers' 6 linears' bias went into its Gemm
    backend = json.loads((new / "config.json").read_text())["backend"]
    assert backend["int8"]["fused_epilogues"] is True and backend["recalibrated"]["int8_fused"] == {"smoothing_masks": 2 * 4, "biases": 2 * 6}
    assert json.loads((new / "config.json").read_text())["train_config"]["transformer"]["int8_fused_epilogues"] is True
    assert "epilogues fused" in (new / "MODEL_CARD.md").read_text()
    rows = _sample(50)
    old_scores = open_scorer(int8_only, device="cpu").backend.logits(rows)
    # a 2-layer model's int8 roundings all land alike here (1e-6 apart); the 6-layer default's differ by a rare step
    assert np.abs(open_scorer(new, device="cpu").backend.logits(rows) - old_scores).max() < 1e-4 * np.abs(old_scores).max()


def test_calibrate_can_turn_spelling_repair_on_for_a_trained_dir(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    from serving.model import ContextText
    from tests.conftest import DATASETS
    from training.pipeline import recalibrate_model_dir

    new = recalibrate_model_dir(tiny_transformer_dir, datasets_dir=DATASETS, models_root=tmp_path,
                                overrides=["text_normalisation=true", "spelling_repair=true"])
    assert json.loads((new / "config.json").read_text())["backend"]["spelling_repair"] is True
    before, after = open_scorer(tiny_transformer_dir, device="cpu"), open_scorer(new, device="cpu")
    assert not before.repair_spelling and after.normalise and after.repair_spelling
    misspelt, meant = [ContextText("Shut up, you idoit, I haet you.")], [ContextText("Shut up, you idiot, I hate you.")]
    assert [i.body for i in after.as_trained(misspelt)] == [meant[0].body]
    assert not np.allclose(before.predict_proba(misspelt), before.predict_proba(meant))  # the tiny model reads them apart
    np.testing.assert_array_equal(after.predict_proba(misspelt), after.predict_proba(meant))  # the repaired dir does not
    assert not open_scorer(new, device="cpu", repair_spelling=False).repair_spelling  # measuring: the override wins


def test_spelling_repair_without_normalisation_is_refused_in_one_line(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "from threadguard.cli import run; run()", "calibrate", str(tiny_transformer_dir),
                             "--set", "spelling_repair=true", "--models-dir", str(tmp_path)],
                            capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120, check=False)
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1 and "spelling_repair needs text_normalisation" in errors[0], result.stderr
    assert not list(tmp_path.iterdir())
