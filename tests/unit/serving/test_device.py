"""--device selection: auto takes CUDA when present and falls back to CPU with a log line; no GPU needed."""

from __future__ import annotations

import logging

import pytest

from serving.model import resolve_device
from serving.transformer import onnx_providers
from threadguard.errors import ArtifactError


def test_auto_picks_cuda_when_present() -> None:
    assert resolve_device("auto", has_cuda=lambda: True) == "cuda"
    assert resolve_device("cuda", has_cuda=lambda: True) == "cuda"


def test_auto_falls_back_to_cpu_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="serving.model"):
        assert resolve_device("auto", has_cuda=lambda: False) == "cpu"
    assert "falling back to CPU" in caplog.text


def test_cpu_is_never_probed() -> None:
    def boom() -> bool:
        raise AssertionError("probed")

    assert resolve_device("cpu", has_cuda=boom) == "cpu"


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(ArtifactError, match="no CUDA device"):
        resolve_device("cuda", has_cuda=lambda: False)


def test_onnx_on_cuda_uses_the_cuda_provider_when_onnxruntime_has_it(caplog: pytest.LogCaptureFixture) -> None:
    assert onnx_providers("cuda", "onnx", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with caplog.at_level(logging.WARNING, logger="serving.transformer"):
        assert onnx_providers("cuda", "onnx", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert "no CUDAExecutionProvider" in caplog.text
    assert onnx_providers("cpu", "onnx", ["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert onnx_providers("cuda", "onnx-int8", ["CUDAExecutionProvider"]) == ["CPUExecutionProvider"]  # int8 is a CPU format
