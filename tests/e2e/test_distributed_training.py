"""The same train command runs data-parallel under torchrun: 2 CPU processes on the gloo backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from threadguard.settings import PROJECT_ROOT


@pytest.mark.slow
def test_torchrun_two_cpu_processes_train_and_rank_zero_exports(tiny_set_path: Path, tiny_encoder_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(
        f'name = "ddp"\nkind = "transformer"\n[data]\neval_corpora = []\nsources = [{{path = "{tiny_set_path}"}}]\n'
        f'[transformer]\nbase_model = "{tiny_encoder_path}"\nmax_steps = 10\nbatch_size = 8\neval_every = 5\nmax_length = 48\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533", "-m", "threadguard",
         "train", "--config", str(config), "--models-dir", str(tmp_path / "models"), "--device", "cpu"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    exported = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(exported) == 1, "only rank 0 exports"
    assert (Path(exported[0]) / "model.int8.onnx").is_file()
