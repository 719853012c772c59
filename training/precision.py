"""Which dtype the fine-tuning forward passes run in (`transformer.mixed_precision`).

The weights, the optimiser state, validation and export stay float32 whatever is chosen: autocast only changes the
dtype of the matrix products inside each training step. fp16 needs CUDA and a gradient scaler; bf16 has float32's
range, so it needs none, and it runs on CPUs too, fast where the CPU multiplies bf16 in hardware (AMX or AVX-512 BF16:
docs/benchmarks.md, "bf16 fine-tuning on CPUs with AMX").
"""

from __future__ import annotations

import logging
from typing import Any, Literal, NamedTuple

from threadguard.errors import ConfigError
from threadguard.hardware import cpu_has_bf16

log = logging.getLogger(__name__)

MixedPrecision = Literal["auto", "off", "bf16", "fp16"]


class Autocast(NamedTuple):
    """What a training step needs to know: the device type, the dtype (None: float32) and whether to scale gradients."""

    device_type: str
    dtype: Any  # torch.dtype | None
    scale_gradients: bool

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    @property
    def name(self) -> str:
        return {"torch.float16": "fp16", "torch.bfloat16": "bf16"}.get(str(self.dtype), "fp32")


def refuse_unrunnable(mode: MixedPrecision, device: str) -> None:
    """A precision the device cannot run is a one-line ConfigError: fp16 needs CUDA."""
    if mode == "fp16" and device != "cuda":
        raise ConfigError("transformer.mixed_precision fp16 needs a CUDA device; on CPU use bf16 (or off)")


def autocast_for(mode: MixedPrecision, device: str, *, cpu_bf16: bool | None = None) -> Autocast:
    """The autocast of a run's training steps on `device` ("cpu" or "cuda"). auto keeps the behaviour from before the option:
    fp16 on CUDA, float32 on CPU, so a config that does not set it trains as it always did."""
    import torch

    refuse_unrunnable(mode, device)
    if mode == "off" or (mode == "auto" and device != "cuda"):
        return Autocast(device, None, False)
    if mode in ("auto", "fp16"):
        return Autocast(device, torch.float16, True)
    if device == "cpu" and not (cpu_has_bf16() if cpu_bf16 is None else cpu_bf16):
        log.warning("transformer.mixed_precision bf16: this CPU has no AMX or AVX-512 BF16, so bf16 is emulated and slower than fp32")
    return Autocast(device, torch.bfloat16, False)
