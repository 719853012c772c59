"""Benchmark sections say where they were measured, down to the int8 instructions the CPU has."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import sections


def test_machine_names_the_int8_relevant_instruction_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n\n"
                       "processor\t: 1\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n")
    real_path = sections.Path
    monkeypatch.setattr(sections, "Path", lambda p: cpuinfo if p == "/proc/cpuinfo" else real_path(p))
    assert "(Test CPU, avx512_vnni/avx512f/avx2)" in sections.machine()


def test_write_section_replaces_only_its_own_block(tmp_path: Path) -> None:
    doc = tmp_path / "b.md"
    doc.write_text("# B\n\n<!-- bench:a -->\nold a\n<!-- /bench:a -->\n\n<!-- bench:b -->\nold b\n<!-- /bench:b -->\n")
    sections.write_section("a", "new a", doc)
    sections.write_section("c", "new c", doc)
    text = doc.read_text()
    assert "new a" in text and "old a" not in text and "old b" in text and text.rstrip().endswith("new c\n<!-- /bench:c -->")
