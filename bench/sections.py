"""Rewrite one marked section of docs/benchmarks.md, leaving the others as they are."""

from __future__ import annotations

import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from threadguard.errors import ThreadguardError

BENCHMARKS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    """A one-line description of where a number was measured."""
    cpu, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == "unknown CPU":
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    # int8 ONNX speed hangs on these: with VNNI int8 dot products run in one instruction, with AVX2 alone in three.
    isa = [f for f in ("avx512_vnni", "avx_vnni", "avx512f", "avx2") if f in flags]
    if isa:
        cpu += ", " + "/".join(isa)
    import os

    sha = subprocess.run(["git", "rev-parse", "--short=7", "HEAD"], check=False, capture_output=True, text=True, cwd=BENCHMARKS.parent).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, git {sha or 'unknown'}"


def cpu_ticks(stat: Path = Path("/proc/stat")) -> tuple[int, int] | None:
    """(ticks the CPUs ran something, ticks stolen) since boot, summed over CPUs; None where /proc/stat is absent.

    On a shared virtual machine the hypervisor can run other guests while ours waits ("steal"): a bench that loses
    a third of its CPU that way measures the neighbours, not the code.
    """
    try:
        fields = [int(x) for x in stat.read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq, steal


def stolen_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """Of the CPU time asked for between two cpu_ticks readings, the share the hypervisor gave to other guests."""
    if before is None or after is None:
        return None
    ran, stolen = after[0] - before[0], after[1] - before[1]
    return stolen / (ran + stolen) if ran + stolen > 0 else 0.0


def stolen_text(share: float | None) -> str:
    """A stolen_share as a bench table prints it."""
    return "n/a" if share is None else f"{share:.0%}"


def write_section(name: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace the text between <!-- bench:NAME --> and <!-- /bench:NAME --> (appending the section if absent)."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.rstrip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Report a threadguard error (a missing model dir, an unreadable corpus) as the CLI does: one line, its exit code.

    Benches are run by hand with model dirs typed on the command line; a typo deserves "error: ..." rather than
    a traceback through the loading code.
    """
    try:
        yield
    except ThreadguardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
