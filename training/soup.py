"""A uniform model soup: several fine-tuned runs of one config averaged weight by weight into one model dir.

Runs fine-tuned from the same pretrained encoder with a small learning rate stay in one basin of the loss, so the
average of their weights is a model in its own right, usually at least as good as each run and more robust away from
the training data (Wortsman et al. 2022, "Model soups"; Neyshabur et al. 2020). Here, seeds of one config spread wider
than most config changes (docs/benchmarks.md, "A third seed"); a soup of seeds is one way to get the middle of that
spread at the serving cost of one model. The encoder and the comment and context heads are averaged; the spam head,
calibration and thresholds are fitted anew on the averaged encoder, and the fp32 and int8 graphs exported from it, as
training does. A soup that left the basin shows at once as a validation score below its ingredients'.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labels.schema import LABELS
from threadguard.artifact import ModelDir, read_model_dir
from threadguard.errors import ArtifactError, UsageError

log = logging.getLogger(__name__)

ENCODER_WEIGHTS = "model.safetensors"
AVERAGED_HEADS = ("comment.", "context.")  # the spam head is fitted anew on the averaged encoder (training/spam_head.py)


def average_tensors(states: Sequence[dict[str, np.ndarray]], what: str) -> dict[str, np.ndarray]:
    """The element-wise mean of several state dicts with the same keys and shapes, in float64 then cast back."""
    keys = set(states[0])
    for i, state in enumerate(states[1:], start=2):
        if set(state) != keys:
            raise ArtifactError(f"{what}: ingredient {i} has other tensors than the first ({sorted(keys ^ set(state))[:3]} ...)")
        for key in keys:
            if state[key].shape != states[0][key].shape:
                raise ArtifactError(f"{what}: {key} is {state[key].shape} in ingredient {i}, {states[0][key].shape} in the first")
    return {key: np.mean([s[key].astype(np.float64) for s in states], axis=0).astype(states[0][key].dtype) for key in sorted(keys)}


def _ingredients(dirs: Sequence[Path]) -> list[ModelDir]:
    from serving.heads import HEADS_FILE
    from serving.transformer import HF_DIR

    if len(dirs) < 2:
        raise UsageError("a soup needs at least two model dirs")
    sources = [read_model_dir(d, expected_labels=[l.value for l in LABELS]) for d in dirs]
    for source in sources:
        if source.config.kind != "transformer":
            raise UsageError(f"{source.path} is a {source.config.kind} model; a soup averages transformer runs")
        if not (source.path / HF_DIR / ENCODER_WEIGHTS).is_file() or not (source.path / HEADS_FILE).is_file():
            raise ArtifactError(f"{source.path} has no {HF_DIR}/{ENCODER_WEIGHTS}: rebuild its full-precision weights first (README, GPU serving)")
    first = sources[0]
    for source in sources[1:]:
        for key in ("architecture", "base_model", "max_length", "context"):
            if source.config.backend.get(key) != first.config.backend.get(key):
                raise UsageError(f"{source.path} and {first.path} differ in {key}: a soup averages runs of one architecture")
        if (source.path / HF_DIR / "config.json").read_text() != (first.path / HF_DIR / "config.json").read_text():
            raise UsageError(f"{source.path} and {first.path} hold different encoders ({HF_DIR}/config.json)")
    return sources


def soup_model_dirs(dirs: Sequence[Path], *, datasets_dir: Path, models_root: Path, make_current: bool = False,
                    overrides: Sequence[str] = ()) -> Path:
    """A new model dir whose encoder and heads are the mean of `dirs`' (runs of one config, e.g. seeds), exported,
    calibrated, thresholded and evaluated as training does. The training config is the first dir's, with `overrides`;
    the card names every ingredient."""
    import torch
    from safetensors.numpy import load_file
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from serving.heads import HEADS_FILE
    from serving.transformer import HF_DIR
    from training.config import config_from_dict
    from training.data import assemble
    from training.finetune import build_biencoder
    from training.pipeline import as_the_model_reads, check_run_name, export_transformer, finalize

    sources = _ingredients(dirs)
    first = sources[0]
    config = config_from_dict(first.config.train_config, list(overrides), origin=str(first.path))
    encoder_state = average_tensors([load_file(str(s.path / HF_DIR / ENCODER_WEIGHTS)) for s in sources], "encoder")
    heads = [{k: v for k, v in load_file(str(s.path / HEADS_FILE)).items() if k.startswith(AVERAGED_HEADS)} for s in sources]
    head_state = average_tensors(heads, "heads")

    hf_logging.set_verbosity_error()
    encoder = AutoModel.from_pretrained(first.path / HF_DIR, add_pooling_layer=False)
    model = build_biencoder(encoder, context_grad=False)
    missing, unexpected = model.encoder.load_state_dict({k: torch.from_numpy(v) for k, v in encoder_state.items()}, strict=False)
    if unexpected or [k for k in missing if "position_ids" not in k]:
        raise ArtifactError(f"averaged encoder does not fit {first.path / HF_DIR}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.load_state_dict({**model.state_dict(), **{k: torch.from_numpy(v) for k, v in head_state.items()}})

    bundle = assemble(config, datasets_dir, progress=False)
    named_at = check_run_name(models_root, config, bundle, tag="-soup", made_from=[s.config.name for s in sources])
    # the params describe the soup as exported, not the first run's training record (steps, history, a refit or recalibration)
    exported = export_transformer(model, str(first.path / HF_DIR), config, as_the_model_reads(config, bundle))
    params = {**exported.params, "int8": exported.int8,
              "soup": {"from": [s.config.name for s in sources], "seeds": [s.config.train_config.get("seed") for s in sources],
                       # seeds draw their sampled and synthetic rows apart: each run's training sets, by hash, as its card lists them
                       "train_data": {s.config.name: {f"{r.name}/{r.split}": r.sha256 for r in s.config.data if r.role == "train"} for s in sources}}}
    log.info("soup of %s", ", ".join(s.config.name for s in sources))
    return finalize(config, bundle, exported.files, params, models_root=models_root, make_current=make_current, tag="-soup",
                    made_from=[s.config.name for s in sources], named_at=named_at)
