"""Score a large archive (JSONL or Parquet) with Ray Data, locally or on an existing Ray cluster.

The workers read the files themselves (`read_json` / `read_parquet`, so on a cluster the archive must sit on
storage every node sees), turn each row into a Comment with the same validation as `threadguard parse`, and
score pools with `score_rows`, the function the service and the single-process `score` command use, so the
output lines are identical to theirs. Each scoring actor opens the model dir once and uses one CPU (one
ONNX Runtime thread); the pool grows from one actor to `actors` as CPUs free up (a fixed pool that takes every
CPU would starve the read tasks), and the driver streams results, in input order, into one JSONL file.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from threadguard.errors import UsageError

log = logging.getLogger(__name__)

PATH_COLUMN = "path"
OUTPUT_COLUMN = "json"
SUFFIXES = {".jsonl": "json", ".json": "json", ".ndjson": "json", ".parquet": "parquet"}


class ScoreActor:
    """A Ray Data callable class: opens the model once per actor, scores one batch (a pyarrow table) per call."""

    def __init__(self, model_dir: str, device: str = "cpu", threads: int = 1) -> None:
        from serving.language import LanguageIdentifier
        from serving.model import open_scorer

        self.scorer = open_scorer(Path(model_dir), device=device, threads=threads)
        self.language = LanguageIdentifier()

    def __call__(self, batch: Any) -> dict[str, list[str]]:
        from labels.threads import record_to_comment
        from serving.scoring import score_rows

        rows = [_plain_ids(row) for row in batch.to_pylist()]
        comments = [record_to_comment(Path(row.pop(PATH_COLUMN)), i + 1, row) for i, row in enumerate(rows)]
        results = score_rows(self.scorer, comments, [c.id for c in comments], language=self.language)
        return {OUTPUT_COLUMN: [r.model_dump_json() for r in results]}


def _plain_ids(row: dict[str, Any]) -> dict[str, Any]:
    """Columnar blocks hold integer ids with gaps as floats (3.0, NaN); give the parser back 3 and None, as JSON would."""
    for key in ("id", "thread_id"):
        value = row.get(key)
        if isinstance(value, float):
            row[key] = None if math.isnan(value) else int(value) if value.is_integer() else value
    return row


def _reader(inputs: list[Path]) -> str:
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


def score_archive_lines(inputs: list[Path], model_dir: Path, *, address: str | None = None, actors: int = 2, batch_size: int = 256,
                        device: str = "cpu") -> Iterator[str]:
    """JSON lines of results in input order. `address` names an existing cluster (e.g. ray://head:10001);
    without it Ray joins the cluster in RAY_ADDRESS, or starts a local one."""
    import ray

    kind = _reader(inputs)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # results come back in input order, like the single-process scorer
    context.enable_progress_bars = False
    files = [str(p.resolve()) for p in inputs]
    data = ray.data.read_json(files, include_paths=True, lines=True) if kind == "json" else ray.data.read_parquet(files, include_paths=True)
    scored = data.map_batches(ScoreActor, fn_constructor_kwargs={"model_dir": str(Path(model_dir).resolve()), "device": device},
                              batch_size=batch_size, batch_format="pyarrow", concurrency=(1, actors), num_cpus=1)
    for batch in scored.iter_batches(batch_format="pyarrow", batch_size=None):
        yield from batch.column(OUTPUT_COLUMN).to_pylist()
