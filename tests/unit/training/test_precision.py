"""transformer.mixed_precision: which autocast a training step gets on each device, and what is refused."""

from __future__ import annotations

import logging

import pytest
import torch

from threadguard.errors import ConfigError
from training.config import TransformerConfig
from training.precision import autocast_for


def test_auto_keeps_cpu_runs_in_float32_and_cuda_runs_in_scaled_fp16() -> None:
    cpu, cuda = autocast_for("auto", "cpu"), autocast_for("auto", "cuda")
    assert (cpu.enabled, cpu.name, cpu.scale_gradients) == (False, "fp32", False)
    assert (cuda.device_type, cuda.dtype, cuda.scale_gradients) == ("cuda", torch.float16, True)


def test_bf16_runs_on_either_device_without_a_gradient_scaler() -> None:
    for device in ("cpu", "cuda"):
        chosen = autocast_for("bf16", device, cpu_bf16=True)
        assert (chosen.device_type, chosen.dtype, chosen.scale_gradients, chosen.name) == (device, torch.bfloat16, False, "bf16")


def test_off_is_float32_even_on_cuda() -> None:
    assert not autocast_for("off", "cuda").enabled


def test_fp16_on_cpu_is_refused_with_the_key_and_the_way_out() -> None:
    with pytest.raises(ConfigError, match=r"transformer.mixed_precision fp16 needs a CUDA device; on CPU use bf16"):
        autocast_for("fp16", "cpu")


def test_bf16_on_a_cpu_without_bf16_hardware_warns_that_it_is_slower(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="training.precision"):
        autocast_for("bf16", "cpu", cpu_bf16=True)
        assert not caplog.records
        autocast_for("bf16", "cpu", cpu_bf16=False)
    assert "emulated and slower" in caplog.text


def test_the_config_takes_only_the_four_modes() -> None:
    assert TransformerConfig().mixed_precision == "auto"
    with pytest.raises(ValueError, match="mixed_precision"):
        TransformerConfig(mixed_precision="int8")  # type: ignore[arg-type]
