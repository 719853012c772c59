"""session.x64quantprecision is set exactly where ONNX Runtime's uint8 x int8 kernel can saturate: x86 without VNNI."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.transformer import INT8_PRECISION_ENTRY, int8_can_saturate, onnx_session_options
from tests.fixtures.session import session_entry


def cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 {flags}\n\nprocessor\t: 1\nflags\t\t: fpu sse2 {flags}\n")
    return path


@pytest.mark.parametrize(
    ("flags", "machine", "saturates"),
    [
        ("avx2 avx512f avx512_vnni", "x86_64", False),
        ("avx2 avx_vnni", "x86_64", False),
        ("avx2", "x86_64", True),
        ("avx2 avx512f", "AMD64", True),  # AVX-512 without VNNI still multiplies with the saturating instruction
        ("asimd", "aarch64", False),
    ],
)
def test_saturation_is_read_from_the_cpu_flags(tmp_path: Path, flags: str, machine: str, saturates: bool) -> None:
    assert int8_can_saturate(cpuinfo(tmp_path, flags), machine) is saturates


def test_an_unreadable_cpuinfo_keeps_precision_on_x86(tmp_path: Path) -> None:
    assert int8_can_saturate(tmp_path / "missing", "x86_64") is True
    assert int8_can_saturate(tmp_path / "missing", "arm64") is False


def entry(options) -> str:  # type: ignore[no-untyped-def]
    return session_entry(options, INT8_PRECISION_ENTRY)


def test_the_option_is_set_only_where_int8_can_saturate_and_precision_is_asked() -> None:
    assert entry(onnx_session_options(can_saturate=True)) == "1"
    assert entry(onnx_session_options(can_saturate=False)) == "unset"
    assert entry(onnx_session_options(int8_precision=False, can_saturate=True)) == "unset"
