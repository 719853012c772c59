"""What this machine's CPU can do, for choices that training and serving both make."""

from __future__ import annotations


def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AMX or AVX-512 BF16); elsewhere PyTorch emulates bf16, slower than
    float32. Needs PyTorch (the probes are torch.cpu's)."""
    import torch

    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
