"""fine_tune on the tiny encoder: it learns (training loss falls), resumes from a checkpoint, and stops early."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from labels.schema import Label
from labels.sets import read_jsonl
from serving.transformer import load_tokenizer
from tests.conftest import tiny_transformer_config
from training.finetune import budget_of, collate, encode_rows, fine_tune, masked_bce, topic_gap


def _encoded(config, rows):  # type: ignore[no-untyped-def]
    """The rows encoded as fine_tune encodes them, each weighted 1."""
    tokenizer = load_tokenizer(Path(config.base_model) / "tokenizer.json", config.max_length)
    return encode_rows(tokenizer, rows, [1.0] * len(rows), budget_of(config))


def _train_loss(model, config, rows) -> float:  # type: ignore[no-untyped-def]
    batch, labels, weights = collate(_encoded(config, rows), list(range(len(rows))), "cpu")
    model.eval()
    with torch.inference_mode():
        return float(masked_bce(model(batch), labels, weights, torch.ones(3)))


def test_fine_tuning_lowers_training_loss(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    from transformers import AutoModel

    from training.finetune import build_biencoder

    # eval_every = max_steps: the returned model is the one after all 60 steps, not an early best
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, eval_every=60).transformer
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    torch.manual_seed(3)
    before_model = build_biencoder(AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False), context_grad=False)
    before = _train_loss(before_model, config, rows)
    result = fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", progress=False)
    after = _train_loss(result.model, config, rows)
    assert after < before - 0.01  # a 2-layer, 32-wide random encoder learns slowly, but it must learn
    assert result.history and all("valid_mean_auc" in h for h in result.history)


def test_resume_continues_from_the_checkpoint(tiny_set_path: Path, tiny_encoder_path: Path, tmp_path: Path) -> None:
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    first = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=20, eval_every=10).transformer
    done = fine_tune(first, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    assert done.steps == 20 and (tmp_path / "state.pt").is_file() and (tmp_path / "model.safetensors").is_file()
    longer = first.model_copy(update={"max_steps": 30})
    resumed = fine_tune(longer, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    assert resumed.steps == 30
    # The checkpoint carries the passes before it, so the history covers the whole run, each pass once.
    assert [h["step"] for h in resumed.history] == [10.0, 20.0, 30.0]
    assert resumed.history[:2] == done.history


def test_resuming_a_checkpoint_of_another_architecture_is_a_one_line_config_error(
        tiny_set_path: Path, tiny_encoder_path: Path, tmp_path: Path) -> None:
    from threadguard.errors import ConfigError

    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    biased = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=4, eval_every=4, source_bias="all").transformer
    fine_tune(biased, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    plain = biased.model_copy(update={"source_bias": "off", "max_steps": 8})
    with pytest.raises(ConfigError) as info:
        fine_tune(plain, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    assert "source_bias 'all' -> 'off'" in str(info.value) and "\n" not in str(info.value)
    # A checkpoint from before runs recorded their settings: the weights' shapes still tell.
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    del state["identity"]
    torch.save(state, tmp_path / "state.pt")
    with pytest.raises(ConfigError) as info:
        fine_tune(plain, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    assert "unexpected: source_bias" in str(info.value) and "\n" not in str(info.value)


def test_a_run_killed_while_writing_a_checkpoint_leaves_the_previous_one_whole(
        tiny_set_path: Path, tiny_encoder_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from safetensors.torch import load_file

    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    first = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=4, eval_every=4).transformer
    fine_tune(first, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    step_4 = load_file(str(tmp_path / "model.safetensors"))
    longer = first.model_copy(update={"max_steps": 8})
    real_save = torch.save

    def killed_mid_write(obj, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        Path(path).write_bytes(b"torn")  # the kill lands after the weights and part of the state are on disk
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        fine_tune(longer, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    # Step 8's weights were written in full before the kill, but not renamed into place: step 4's checkpoint is intact.
    assert int(torch.load(tmp_path / "state.pt", weights_only=True)["step"]) == 4
    assert all(torch.equal(value, step_4[key]) for key, value in load_file(str(tmp_path / "model.safetensors")).items())
    resumed = fine_tune(longer, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    assert resumed.steps == 8


@pytest.mark.parametrize("torn", ["state.pt", "model.safetensors"])
def test_an_unreadable_checkpoint_file_is_a_one_line_config_error(
        torn: str, tiny_set_path: Path, tiny_encoder_path: Path, tmp_path: Path) -> None:
    from threadguard.errors import ConfigError

    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=4, eval_every=4).transformer
    fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    (tmp_path / torn).write_bytes(b"\xff\xfe torn by a crash")
    with pytest.raises(ConfigError) as info:
        fine_tune(config.model_copy(update={"max_steps": 8}), rows, [1.0] * len(rows), rows, seed=3, device="cpu",
                  checkpoint_dir=tmp_path, progress=False)
    assert f"{tmp_path / torn} cannot be read" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("change", ["learning_rate", "source_bias_labels", "seed", "training rows", "validation rows"])
def test_resuming_under_other_settings_or_rows_is_a_one_line_config_error(
        change: str, tiny_set_path: Path, tiny_encoder_path: Path, tmp_path: Path) -> None:
    from threadguard.errors import ConfigError

    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    first = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=4, eval_every=4, source_bias="all").transformer
    fine_tune(first, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    # Running longer and validating more often is what resuming is for: these may change.
    config, seed, resumed_rows, valid_rows = first.model_copy(update={"max_steps": 8, "eval_every": 2}), 3, rows, rows
    if change == "learning_rate":
        config = config.model_copy(update={"learning_rate": first.learning_rate * 2})
    elif change == "source_bias_labels":
        config = config.model_copy(update={"source_bias_labels": [Label.insult]})  # same weights' shapes, another mask
    elif change == "seed":
        seed = 4
    elif change == "training rows":
        resumed_rows = rows[:-1]
    else:
        valid_rows = rows[1:]
    with pytest.raises(ConfigError) as info:
        fine_tune(config, resumed_rows, [1.0] * len(resumed_rows), valid_rows, seed=seed, device="cpu", checkpoint_dir=tmp_path,
                  progress=False)
    message = str(info.value)
    expected = {"learning_rate": f"learning_rate {first.learning_rate!r} -> {first.learning_rate * 2!r}", "source_bias_labels": "source_bias_labels",
                "seed": "seed 3 -> 4", "training rows": "the training rows changed",
                "validation rows": "the validation rows changed"}[change]
    assert expected in message and "\n" not in message and "--checkpoint-dir" in message
    assert "max_steps" not in message and "eval_every" not in message


def test_early_stopping_stops_before_max_steps(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=400, eval_every=2, patience=1, learning_rate=1e-9).transformer
    result = fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", progress=False)
    assert result.steps < 400
    assert np.isfinite(result.best_score)


@pytest.mark.parametrize("device", ["cuda"])
def test_cuda_without_a_gpu_is_a_clear_error(device: str) -> None:
    from serving.model import resolve_device
    from threadguard.errors import ArtifactError

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ArtifactError, match="no CUDA device"):
        resolve_device(device)


@pytest.mark.slow  # two early-stopped runs, about 12 s; the edit loop keeps test_resume_continues_from_the_checkpoint and early stopping
def test_resuming_a_run_that_stopped_early_trains_no_further(tiny_set_path: Path, tiny_encoder_path: Path, tmp_path: Path) -> None:
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=400, eval_every=5, patience=1, learning_rate=1e-9).transformer
    stopped = fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    assert stopped.steps < 400
    resumed = fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    assert resumed.steps == stopped.steps and resumed.history == stopped.history  # nothing trained, the run's passes kept
    assert resumed.best_score == stopped.best_score


def _int8_gap(model, config, rows) -> float:  # type: ignore[no-untyped-def]
    from training.int8_aware import simulated_int8

    batch, _, _ = collate(_encoded(config, rows), list(range(len(rows))), "cpu")
    model.eval()
    with torch.inference_mode():
        fp32 = model(batch)
        with simulated_int8(model.encoder):
            rounded = model(batch)
    return float(torch.mean((rounded - fp32) ** 2))


def _after_phase(tiny_set_path: Path, tiny_encoder_path: Path, weight: float) -> tuple[float, list[dict[str, float]]]:
    """The fp32/int8 logit gap after 30 phase steps at `weight` from one fixed start."""
    from transformers import AutoModel

    from training.finetune import build_biencoder, positive_weights
    from training.int8_aware import consistency_tune

    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path).transformer.model_copy(
        update={"int8_consistency_steps": 30, "int8_consistency_weight": weight, "int8_consistency_learning_rate": 1e-3})
    torch.manual_seed(3)
    encoder = AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False)
    with torch.no_grad():  # an outlier channel, as a fine-tuned MiniLM carries: int8 rounding then moves the logits
        encoder.encoder.layer[0].output.dense.bias[3] += 8.0
    model = build_biencoder(encoder, context_grad=False)
    encoded = _encoded(config, rows)
    pos_weight = torch.from_numpy(positive_weights(encoded.labels, 5.0))
    history = consistency_tune(model, encoded, config, pos_weight=pos_weight, seed=3, device="cpu", progress=False)
    return _int8_gap(model, config, rows), history


def test_int8_consistency_phase_narrows_the_gap_between_fp32_and_int8_logits(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    # The control trains the same steps on the task loss alone: the gap term, not the extra steps, must close the gap.
    # The weight puts the gap term on the task loss's scale: this 32-wide model's squared logit gap is about 1e-5 on a
    # fresh install (transformers 5.25), where a weight of 1000 left it unmoved (control 1.46e-5, tuned 1.40e-5);
    # 1e5 x gap is near BCE's 0.7.
    control, _ = _after_phase(tiny_set_path, tiny_encoder_path, 0.0)
    tuned, history = _after_phase(tiny_set_path, tiny_encoder_path, 1e5)
    assert [h["step"] for h in history][-1] == 30.0
    assert tuned < 0.5 * control, (control, tuned)


def test_fine_tune_runs_the_int8_consistency_phase_when_configured(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=10, eval_every=10, int8_consistency_steps=8).transformer
    result = fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", progress=False)
    assert result.steps == 10  # the phase's steps are its own, not fine-tuning's
    stretches = [h for h in result.int8_consistency if "mean_squared_logit_gap" in h]
    assert [h["step"] for h in stretches] == [2.0, 4.0, 6.0, 8.0]
    assert all(h["mean_squared_logit_gap"] >= 0 and -1.0 <= h["valid_worst_drop"] <= 1.0 for h in stretches)
    assert result.int8_consistency[0]["step"] == 0.0 and result.int8_consistency[0]["valid_pairs"] >= 1  # validated before it starts
    assert result.int8_consistency[-1]["kept"] == 1.0


def test_int8_consistency_phase_ends_on_the_last_stretch_that_kept_validation(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    from transformers import AutoModel

    from training.finetune import build_biencoder
    from training.int8_aware import consistency_tune

    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path).transformer.model_copy(
        update={"int8_consistency_steps": 8, "int8_consistency_learning_rate": 1e-3, "int8_consistency_tolerance": 0.02})
    torch.manual_seed(3)
    model = build_biencoder(AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False), context_grad=False)
    encoded = _encoded(config, rows)
    # validation at the start, then after steps 2, 4, 6, 8: at step 4 every source is within the tolerance; at step 6 one
    # source falls while the mean of the two rises, and at step 8 both fall
    scores = iter([{"0/hate": 0.80, "1/off_topic": 0.80}, {"0/hate": 0.79, "1/off_topic": 0.81}, {"0/hate": 0.795, "1/off_topic": 0.79},
                   {"0/hate": 0.95, "1/off_topic": 0.70}, {"0/hate": 0.70, "1/off_topic": 0.70}])
    states: dict[int, dict] = {}
    history = consistency_tune(model, encoded, config, pos_weight=torch.ones(3), seed=3, device="cpu", progress=False,
                               validate=lambda: next(scores),
                               after_stretch=lambda step: states.update({step: {k: v.clone() for k, v in model.state_dict().items()}}))
    assert history[-1] == {"step": 4.0, "kept": 1.0}
    assert [round(h["valid_worst_drop"], 3) for h in history[1:-1]] == [0.01, 0.01, 0.1, 0.1]
    now = model.state_dict()
    assert all(torch.equal(now[k], states[4][k]) for k in now)
    assert not all(torch.equal(now[k], states[8][k]) for k in now)  # the phase did move on past step 4


def test_weight_average_is_an_exponential_moving_average_of_the_parameters() -> None:
    from training.finetune import weight_average

    model = torch.nn.Linear(2, 1)
    average = weight_average(model, 0.9)
    for value in (1.0, 3.0, 5.0):
        with torch.no_grad():
            model.weight.fill_(value)
        average.update_parameters(model)
    # the first update copies, each later one moves a tenth of the way
    expected = (1.0 * 0.9 + 3.0 * 0.1) * 0.9 + 5.0 * 0.1
    assert torch.allclose(average.module.weight, torch.full((1, 2), expected))
    assert weight_average(model, 0.0) is None


def test_fine_tune_keeps_and_checkpoints_the_weight_average(tiny_set_path: Path, tiny_encoder_path: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from training.finetune import AVERAGE_FILE

    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=20, eval_every=20, weight_average_decay=0.8).transformer
    result = fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", checkpoint_dir=tmp_path, progress=False)
    returned = result.model.state_dict()
    averaged, raw = load_file(str(tmp_path / AVERAGE_FILE)), load_file(str(tmp_path / "model.safetensors"))
    assert averaged.keys() == raw.keys() == returned.keys()
    # the returned (and exported) weights are the average's, which differ from the last step's raw weights
    assert all(torch.equal(returned[k], averaged[k]) for k in returned)
    assert any(not torch.allclose(averaged[k], raw[k]) for k in raw if raw[k].is_floating_point())
    # a resumed run picks the average up where the checkpoint left it
    resumed = fine_tune(config.model_copy(update={"max_steps": 21}), rows, [1.0] * len(rows), rows, seed=3, device="cpu",
                        checkpoint_dir=tmp_path, progress=False)
    step_21 = load_file(str(tmp_path / AVERAGE_FILE))
    weight = "comment.weight" if "comment.weight" in raw else next(k for k in raw if raw[k].is_floating_point() and raw[k].dim() == 2)
    assert resumed.steps == 21
    # one more step moves the average a fifth of the way towards the new raw weights, not onto them
    assert torch.allclose(step_21[weight], 0.8 * averaged[weight] + 0.2 * load_file(str(tmp_path / "model.safetensors"))[weight], atol=1e-6)


def test_topic_gap_ignores_rotation_scale_and_shifts_and_sees_a_comment_move_to_another_article() -> None:
    torch.manual_seed(0)
    comments, articles = torch.randn(6, 16), torch.randn(6, 16)
    rotation, _ = torch.linalg.qr(torch.randn(16, 16))
    assert float(topic_gap(3.0 * comments @ rotation, 0.5 * articles @ rotation, comments, articles)) < 1e-6
    moved = comments.clone()
    moved[0] = articles[3]  # comment 0 now sits on article 3
    assert float(topic_gap(moved, articles, comments, articles)) > 0.01
    assert float(topic_gap(comments[:1], articles[:1], comments[:1], articles[:1])) == 0.0  # one article: nothing to rank


def _topic_gap_to(model, shipped, config, rows) -> float:  # type: ignore[no-untyped-def]
    """topic_gap of a model against the shipped encoder on the rows' comments and articles (one batch)."""
    batch, _, _ = collate(_encoded(config, rows), list(range(len(rows))), "cpu")
    placed = {k: v[batch.has_article] for k, v in batch.comment.items()}
    parts = []
    for encoder in (model, shipped):
        encoder.eval()
        with torch.inference_mode():
            parts += [encoder.embed(placed), encoder.embed(batch.article)]
    return float(topic_gap(*parts))


def test_topic_anchor_keeps_each_comments_nearest_articles_near_the_shipped_encoders(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    """Same seed and steps, with and without the anchor: where the training comments sit among their articles moves
    less from the shipped encoder's with it."""
    from transformers import AutoModel

    from training.finetune import build_biencoder

    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train" and r.article_title][:48]
    free = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=40, eval_every=40).transformer
    shipped = build_biencoder(AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False), context_grad=False)
    gaps = {}
    for name, config in (("free", free), ("anchored", free.model_copy(update={"topic_anchor": 20.0}))):
        model = fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", progress=False).model
        gaps[name] = _topic_gap_to(model, shipped, config, rows)
    assert gaps["anchored"] < 0.5 * gaps["free"], gaps


def test_shipped_article_embeddings_embed_each_article_once_and_match_a_direct_pass(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    from transformers import AutoModel

    from training.finetune import mean_pool, shipped_article_embeddings

    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path).transformer
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"][:32]
    encoded = _encoded(config, rows)
    shipped = AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False).eval()
    calls = []
    shipped.register_forward_hook(lambda module, args, kwargs_or_out: calls.append(1))
    cache: dict = {}
    idx = list(range(len(rows)))
    first = shipped_article_embeddings(shipped, encoded, idx, cache, "cpu")
    again = shipped_article_embeddings(shipped, encoded, idx[::-1], cache, "cpu")
    assert len(calls) == 1 and len(cache) == len({tuple(a) for a in encoded.article if a}) < len(first)
    batch, _, _ = collate(encoded, idx, "cpu")
    with torch.inference_mode():
        direct = mean_pool(shipped(**batch.article).last_hidden_state, batch.article["attention_mask"])
    assert torch.allclose(first, direct, atol=1e-5)
    assert torch.equal(again, first.flip(0))  # from the cache, in the new batch's row order


def test_layer_param_groups_decay_the_rate_from_the_top_layer_down(tiny_encoder_path: Path) -> None:
    from transformers import AutoModel

    from training.finetune import build_biencoder, layer_param_groups

    model = build_biencoder(AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False), context_grad=False)
    named = [(n, p) for n, p in model.named_parameters() if n.startswith("encoder.")]
    rate_of = {id(p): g["lr"] for g in layer_param_groups(named, 1e-4, 0.5) for p in g["params"]}
    by_name = {n: rate_of[id(p)] for n, p in named}
    assert len(by_name) == len(named)  # every parameter in exactly one group
    def rates(part: str) -> list[float]:
        found = sorted({r for n, r in by_name.items() if part in n})
        assert found, part
        return found

    assert rates(".layer.1.") == pytest.approx([1e-4])  # the tiny encoder's top layer
    assert rates(".layer.0.") == pytest.approx([5e-5])
    assert rates("embeddings") == pytest.approx([2.5e-5])
    flat = layer_param_groups(named, 1e-4, 1.0)
    assert len(flat) == 1 and flat[0]["lr"] == 1e-4 and len(flat[0]["params"]) == len(named)


def test_layer_lr_decay_moves_the_embeddings_less_than_the_top_layer(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    """Same seed and steps with and without decay: the embeddings move far less with it, the top layer about as far."""
    from transformers import AutoModel

    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"][:64]
    start = {n: p.detach().clone() for n, p in AutoModel.from_pretrained(tiny_encoder_path, add_pooling_layer=False).named_parameters()}
    free = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=30, eval_every=30).transformer

    def moved(model, part: str) -> float:  # type: ignore[no-untyped-def]
        return sum(float((p.detach() - start[n.removeprefix("encoder.")]).norm()) for n, p in model.named_parameters()
                   if n.startswith("encoder.") and part in n)

    runs = {name: fine_tune(config, rows, [1.0] * len(rows), rows, seed=3, device="cpu", progress=False).model
            for name, config in (("free", free), ("decayed", free.model_copy(update={"layer_lr_decay": 0.25})))}
    assert moved(runs["decayed"], "embeddings") < 0.2 * moved(runs["free"], "embeddings")
    assert moved(runs["decayed"], ".layer.1.") > 0.5 * moved(runs["free"], ".layer.1.")


def test_bf16_steps_learn_and_leave_float32_weights(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    """bf16 autocast changes the steps' arithmetic (the weights differ from a float32 run of the same seed), still learns,
    and keeps the weights float32, so export and serving read them as before."""
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    fp32 = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=20, eval_every=20).transformer
    bf16 = fp32.model_copy(update={"mixed_precision": "bf16"})
    plain = fine_tune(fp32, rows, [1.0] * len(rows), rows, seed=3, device="cpu", progress=False).model
    run = fine_tune(bf16, rows, [1.0] * len(rows), rows, seed=3, device="cpu", progress=False)
    assert (run.device, run.precision) == ("cpu", "bf16")  # what the model card reports
    mixed = run.model
    weights = dict(mixed.named_parameters())
    assert all(p.dtype == torch.float32 for p in weights.values())
    gaps = [float((p - weights[n]).detach().abs().max()) for n, p in plain.named_parameters()]
    assert max(gaps) > 1e-6  # the forward passes really ran in bf16
    assert max(gaps) < 0.05  # and still took the same steps, to bf16's precision
    assert np.isfinite(_train_loss(mixed, fp32, rows))


def test_source_bias_learns_each_sources_base_rate_and_export_keeps_the_served_ones(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    """The same texts in two sources, insult 1 in one and 0 in the other: only a per-source bias can fit both, so the
    heads folded with source "loud" score insult higher than the same run folded with source "quiet"."""
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    both = [r.model_copy(update={"id": f"{name}-{r.id}", "source": f"{name}:x", "insult": value})
            for name, value in (("loud", 1), ("quiet", 0)) for r in rows]
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=40, eval_every=40, source_bias="all",
                                    head_learning_rate=5e-3).transformer
    insult_bias = {}
    for served in ("loud", "quiet"):
        result = fine_tune(config, both, [1.0] * len(both), rows, seed=3, device="cpu", progress=False, serve_source=served)
        assert not any("source_bias" in name for name, _ in result.model.named_parameters())
        insult_bias[served] = float(result.model.comment.bias[1].detach())
        assert result.folded_source == served and set(result.source_biases) == {"loud", "quiet"}
    assert result.source_biases["loud"][1] - result.source_biases["quiet"][1] > 1.0  # what the card records, insult apart
    assert insult_bias["loud"] - insult_bias["quiet"] > 1.0


def test_a_label_left_out_of_source_bias_labels_learns_no_bias(tiny_set_path: Path, tiny_encoder_path: Path) -> None:
    """The loud/quiet rows again with hate alone biased: insult's per-source difference has nowhere to go, so no source
    records an insult bias, while hate's biases still learn."""
    rows = [r for r in read_jsonl(tiny_set_path) if r.split == "train"]
    both = [r.model_copy(update={"id": f"{name}-{r.id}", "source": f"{name}:x", "insult": value})
            for name, value in (("loud", 1), ("quiet", 0)) for r in rows]
    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path, max_steps=40, eval_every=40, source_bias="all",
                                    source_bias_labels=["hate"], head_learning_rate=5e-3).transformer
    result = fine_tune(config, both, [1.0] * len(both), rows, seed=3, device="cpu", progress=False, serve_source="loud")
    assert all(biases[1] == 0.0 and biases[2] == 0.0 for biases in result.source_biases.values())
    assert any(abs(biases[0]) > 0.01 for biases in result.source_biases.values())
