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


def test_one_line_errors_turns_a_threadguard_error_into_one_line_and_its_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    from threadguard.errors import ArtifactError, ConfigError

    with pytest.raises(SystemExit) as exited, sections.one_line_errors():
        raise ArtifactError("models/nope: no labels.json")
    assert exited.value.code == 1
    assert capsys.readouterr().err == "error: models/nope: no labels.json\n"
    with pytest.raises(SystemExit) as exited, sections.one_line_errors():
        raise ConfigError("bad key")
    assert exited.value.code == 2


def test_one_line_errors_lets_other_exceptions_through() -> None:
    # A bug in a bench should still show its traceback.
    with pytest.raises(ZeroDivisionError), sections.one_line_errors():
        1 / 0  # noqa: B018


@pytest.mark.slow  # starts a Python process per bench: about 7 s; .ci/run runs it
def test_every_bench_entry_point_reports_a_missing_model_dir_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(sections.__file__).resolve().parent.parent
    missing = tmp_path / "no-such-model"
    for bench in ("inhouse_pairs", "int8_agreement", "compare_runs", "padding", "score_throughput"):
        done = subprocess.run([sys.executable, "-m", f"bench.{bench}", str(missing)], check=False, cwd=root, capture_output=True, text=True, timeout=120)
        assert done.returncode != 0, bench
        assert "Traceback" not in done.stderr, (bench, done.stderr)
        assert done.stderr.strip().startswith("error: ") and str(missing) in done.stderr, (bench, done.stderr)


def test_stolen_share_is_the_stolen_part_of_the_cpu_time_asked_for(tmp_path: Path) -> None:
    from bench.sections import cpu_ticks, stolen_share, stolen_text

    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  100 0 20 5000 3 0 5 25 0 0\\ncpu0 50 0 10 2500 1 0 2 12 0 0\\n")
    before = cpu_ticks(stat)
    stat.write_text("cpu  400 0 50 9000 3 0 10 225 0 0\\n")
    after = cpu_ticks(stat)
    assert before == (125, 25) and after == (460, 225)
    assert stolen_share(before, after) == pytest.approx(200 / (335 + 200))
    assert stolen_share(after, after) == 0.0
    assert cpu_ticks(tmp_path / "absent") is None and stolen_share(None, after) is None
    assert stolen_text(stolen_share(before, after)) == "37%" and stolen_text(None) == "n/a"
