"""Score a large archive (JSONL or Parquet) with Ray Data, locally or on an existing Ray cluster.

Both engines score the archive in the same chunks: rows [0, 256), [256, 512), ... in file order. That is what
makes their output identical line for line for every model: a per-tensor int8 file (model dirs exported before
per-token int8) quantises each batch's activations with scales taken from the whole batch, so there a comment's
scores depend (in the third decimal) on which comments share its batch; the default's per-token int8 does not.

The Ray driver reads no comment text: it lists the chunks (byte offsets of JSONL lines, or row ranges of Parquet
files, from their metadata) as a Ray dataset; scoring actors read their own chunk from storage every node sees,
validate each row as `threadguard parse` does, and score it with `score_rows`, as the service and the
single-process `score` command do. Each actor opens the model once and uses one CPU (one ONNX Runtime thread); the
pool grows from one actor to `actors` as CPUs free up (a fixed pool that takes every CPU can starve Ray's own
tasks), and the driver streams results, in input order, into one JSONL file.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from threadguard.errors import ParseError, UsageError

log = logging.getLogger(__name__)

CHUNK_ROWS = 256
SUFFIXES = {".jsonl": "json", ".json": "json", ".ndjson": "json", ".parquet": "parquet"}


def _plain_ids(row: dict[str, Any]) -> dict[str, Any]:
    """Columnar files hold integer ids with gaps as floats (3.0, NaN); give the parser back 3 and None, as JSON would."""
    for key in ("id", "thread_id"):
        value = row.get(key)
        if isinstance(value, float):
            row[key] = None if math.isnan(value) else int(value) if value.is_integer() else value
    return row


def _kind(inputs: Sequence[Path]) -> str:
    kinds = set()
    for path in inputs:
        kind = SUFFIXES.get(path.suffix.lower())
        if kind is None:
            raise UsageError(f"{path}: the ray engine reads JSONL (.jsonl) or Parquet (.parquet) archives, not {path.suffix or 'this file'}")
        if not path.exists():
            raise UsageError(f"{path}: no such file")
        kinds.add(kind)
    if len(kinds) > 1:
        raise UsageError("give JSONL or Parquet files, not a mix of both")
    return kinds.pop()


def jsonl_chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[dict[str, Any]]:
    """(file, byte offset, first line number, row count) of every `rows` non-blank lines, read in one streaming pass."""
    offset, start_line, count, start = 0, 1, 0, 0
    with path.open("rb") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                if count == 0:
                    start, start_line = offset, lineno
                count += 1
                if count == rows:
                    yield {"path": str(path), "offset": start, "line": start_line, "rows": count}
                    count = 0
            offset += len(line)
    if count:
        yield {"path": str(path), "offset": start, "line": start_line, "rows": count}


def parquet_chunks(path: Path, rows: int = CHUNK_ROWS) -> Iterator[dict[str, Any]]:
    """(file, first row, row count) of every `rows` rows, from the file's metadata."""
    import pyarrow.parquet as pq

    total = pq.ParquetFile(path).metadata.num_rows
    for first in range(0, total, rows):
        yield {"path": str(path), "offset": first, "line": first + 1, "rows": min(rows, total - first)}


def read_chunk(chunk: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """(line or row number, record) of one chunk."""
    path = Path(chunk["path"])
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path).slice(chunk["offset"], chunk["rows"])
        return [(chunk["line"] + i, _plain_ids(row)) for i, row in enumerate(table.to_pylist())]
    records = []
    with path.open("rb") as fh:
        fh.seek(chunk["offset"])
        lineno = chunk["line"]
        while len(records) < chunk["rows"]:
            line = fh.readline()
            if not line:
                break
            if line.strip():
                try:
                    records.append((lineno, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise ParseError(path, lineno, f"invalid JSON: {exc.msg} at column {exc.colno}") from exc
            lineno += 1
    return records


class ScoreChunks:
    """A Ray Data callable class: opens the model once per actor and scores the chunks of each batch it is given."""

    def __init__(self, model_dir: str, device: str = "cpu", threads: int = 1, runtime: str | None = None) -> None:
        from serving.language import LanguageIdentifier
        from serving.model import open_scorer

        self.scorer = open_scorer(Path(model_dir), device=device, threads=threads, runtime=runtime)
        self.language = LanguageIdentifier()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from labels.threads import record_to_comment
        from serving.scoring import score_rows

        lines: list[str] = []
        try:
            for i in range(len(batch["path"])):
                chunk = {key: batch[key][i] for key in ("path", "offset", "line", "rows")}
                comments = [record_to_comment(Path(chunk["path"]), lineno, record) for lineno, record in read_chunk(chunk)]
                lines += [r.model_dump_json() for r in score_rows(self.scorer, comments, [c.id for c in comments], language=self.language)]
        except ParseError as exc:  # a malformed row is the user's input, reported as such, not as a Ray task failure
            return {"json": [""], "error": [str(exc)]}
        return {"json": ["\n".join(lines)], "error": [""]}


def score_archive_lines(inputs: list[Path], model_dir: Path, *, address: str | None = None, actors: int = 2,
                        device: str = "cpu", runtime: str | None = None) -> Iterator[str]:
    """JSON lines of results in input order. `address` names an existing cluster (e.g. ray://head:10001);
    without it Ray joins the cluster in RAY_ADDRESS, or starts a local one."""
    try:
        import ray
    except ImportError as exc:
        raise UsageError("--engine ray needs Ray Data: pip install -e '.[scale]'") from exc

    kind = _kind(inputs)
    chunker = jsonl_chunks if kind == "json" else parquet_chunks
    chunks = [chunk for path in inputs for chunk in chunker(path.resolve())]
    if not chunks:
        return
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # results come back in input order, like the single-process scorer
    context.enable_progress_bars = False
    columns = {key: [c[key] for c in chunks] for key in ("path", "offset", "line", "rows")}
    scored = ray.data.from_items([dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)],
                                 override_num_blocks=len(chunks)).map_batches(
        ScoreChunks, fn_constructor_kwargs={"model_dir": str(Path(model_dir).resolve()), "device": device, "runtime": runtime},
        batch_size=1, concurrency=(1, actors), num_cpus=1)
    for row in scored.iter_rows():
        if row["error"]:
            raise UsageError(row["error"])  # the file:line message, exactly as the single-process scorer gives it
        if row["json"]:
            yield from row["json"].split("\n")


def score_in_chunks(scorer, comments: Sequence, language) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The single-process engine: the same chunks of CHUNK_ROWS rows in input order, so both engines agree exactly."""
    from serving.scoring import score_rows

    for start in range(0, len(comments), CHUNK_ROWS):
        part = comments[start : start + CHUNK_ROWS]
        for result in score_rows(scorer, part, [c.id for c in part], language=language):
            yield result.model_dump_json()
