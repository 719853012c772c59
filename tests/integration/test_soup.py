"""`threadguard soup`: two tiny runs of one config averaged weight by weight into one exported, calibrated model dir."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from serving.model import open_scorer
from tests.conftest import DATASETS, tiny_transformer_config
from threadguard.settings import PROJECT_ROOT


@pytest.fixture(scope="module")
def second_seed_dir(tmp_path_factory: pytest.TempPathFactory, tiny_set_path: Path, tiny_encoder_path: Path) -> Path:
    from training.pipeline import train_and_export

    config = tiny_transformer_config(tiny_set_path, tiny_encoder_path).model_copy(update={"seed": 4})
    return train_and_export(config, datasets_dir=DATASETS, models_root=tmp_path_factory.mktemp("seed4"), progress=False, device="cpu")


def _tensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from threadguard.cli import run; run()", *args], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=120, check=False)


@pytest.mark.slow  # trains a second tiny run and exports the soup, about 35 s; the refusals below stay in the edit loop
def test_soup_averages_encoder_and_heads_and_exports_a_served_model(tiny_transformer_dir: Path, second_seed_dir: Path, tmp_path: Path) -> None:
    from training.soup import soup_model_dirs

    soup = soup_model_dirs([tiny_transformer_dir, second_seed_dir], datasets_dir=DATASETS, models_root=tmp_path)
    assert "-soup-" in soup.name
    a, b, mixed = (_tensors(d / "hf" / "model.safetensors") for d in (tiny_transformer_dir, second_seed_dir, soup))
    assert set(mixed) == set(a)
    differing = [k for k in a if not np.array_equal(a[k], b[k])]
    assert differing  # the two seeds really trained apart, so the mean is a third set of weights
    for key in differing:
        assert np.allclose(mixed[key], (a[key].astype(np.float64) + b[key]) / 2, atol=1e-6), key
    heads = [_tensors(d / "heads.safetensors") for d in (tiny_transformer_dir, second_seed_dir, soup)]
    for key in ("comment.weight", "comment.bias", "context.weight", "context.bias"):
        assert np.allclose(heads[2][key], (heads[0][key].astype(np.float64) + heads[1][key]) / 2, atol=1e-6), key

    config = json.loads((soup / "config.json").read_text())
    names = [json.loads((d / "config.json").read_text())["name"] for d in (tiny_transformer_dir, second_seed_dir)]
    assert {k: config["backend"]["soup"][k] for k in ("from", "seeds")} == {"from": names, "seeds": [3, 4]}
    assert sorted(config["backend"]["soup"]["train_data"]) == sorted(names)
    card = (soup / "MODEL_CARD.md").read_text()
    assert f"`threadguard soup` of 2 runs: `{names[0]}` (seed 3), `{names[1]}` (seed 4)" in card
    assert set(config["backend"]["temperature"]) == {"hate", "insult", "off_topic"}  # calibrated anew
    assert "steps" not in config["backend"] and "history" not in config["backend"]  # the first run's training record is not the soup's

    # the graphs are exported from the averaged weights: fp32 ONNX and int8 score as PyTorch does
    from tests.integration.test_transformer_model import _sample

    rows = _sample(40)
    torch_probs = open_scorer(soup, device="cpu", runtime="torch").predict_proba(rows)
    onnx_probs = open_scorer(soup, device="cpu", runtime="onnx").predict_proba(rows)
    assert np.abs(torch_probs - onnx_probs).max() < 1e-3
    assert open_scorer(soup, device="cpu").predict_proba(rows).shape == (40, 3)
    first_probs = open_scorer(tiny_transformer_dir, device="cpu", runtime="torch").predict_proba(rows)
    assert np.abs(torch_probs - first_probs).max() > 1e-3  # not the first ingredient under another name

    # another soup of the same config on the same day gets its own name
    other = soup_model_dirs([tiny_transformer_dir, tiny_transformer_dir], datasets_dir=DATASETS, models_root=tmp_path)
    assert other != soup and other.is_dir() and soup.is_dir()


@pytest.mark.slow  # two CLI processes that load PyTorch: about 10 s
def test_soup_cli_refuses_one_dir_and_a_dir_without_full_weights_in_one_line(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    import shutil

    result = _cli("soup", str(tiny_transformer_dir), "--models-dir", str(tmp_path))
    assert result.returncode == 2
    assert next(l for l in result.stderr.splitlines() if l.startswith("error:")) == "error: a soup needs at least two model dirs"

    slim = tmp_path / "slim"
    shutil.copytree(tiny_transformer_dir, slim)
    shutil.rmtree(slim / "hf")
    result = _cli("soup", str(tiny_transformer_dir), str(slim), "--models-dir", str(tmp_path))
    assert result.returncode != 0
    error = next(l for l in result.stderr.splitlines() if l.startswith("error:"))
    assert error.startswith(f"error: {slim} has no hf/model.safetensors") and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slim"]  # nothing written


def test_soup_refuses_runs_of_different_architectures(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    import shutil

    from threadguard.errors import UsageError
    from training.soup import soup_model_dirs

    other = tmp_path / "other"
    shutil.copytree(tiny_transformer_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["backend"]["max_length"] = 32
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="differ in max_length"):
        soup_model_dirs([tiny_transformer_dir, other], datasets_dir=DATASETS, models_root=tmp_path)
