"""`threadguard score --engine ray` (Ray Data on a local cluster started by ray.init) gives the single-process scorer's
output line for line, from JSONL and from Parquet; inputs it cannot read are one error line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.storage.test_moderation_cli import tg


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, tiny_set_path: Path) -> Path:
    """The tiny set as an archive, with ids on some rows only and an integer id (both must come out as the local scorer says)."""
    rows = [json.loads(line) for line in tiny_set_path.read_text().splitlines()]
    out = []
    for i, row in enumerate(rows * 3):
        record = {"body": row["body"], "article_title": row.get("article_title"), "article_text": row.get("article_text"), "parent_body": row.get("parent_body")}
        if i % 3 == 0:
            record["id"] = i
        out.append(record)
    path = tmp_path_factory.mktemp("archive") / "comments.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in out))
    return path


@pytest.mark.slow  # starts a local Ray cluster (about 10 s)
def test_ray_engine_matches_the_single_process_scorer(archive: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    db = f"sqlite:///{tmp_path / 'unused.db'}"
    local = tg(db, "score", str(archive), "--model", str(tiny_model_dir), "--device", "cpu", "--output", str(tmp_path / "local.jsonl"))
    assert local.returncode == 0, local.stderr
    parquet = tmp_path / "comments.parquet"
    pq.write_table(pa.Table.from_pylist([json.loads(line) for line in archive.read_text().splitlines()]), parquet)
    expected = (tmp_path / "local.jsonl").read_text().splitlines()
    assert len(expected) == len(archive.read_text().splitlines()) > 30
    for source in (archive, parquet):
        # The Parquet file has the JSONL's stem, so ids hashed from the file name agree too.
        target = tmp_path / f"ray-{source.suffix[1:]}.jsonl"
        ray = tg(db, "score", str(source), "--engine", "ray", "--actors", "2", "--model", str(tiny_model_dir), "--device", "cpu",
                 "--output", str(target), env={"RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"}, timeout=300)
        assert ray.returncode == 0, ray.stderr[-3000:]
        assert target.read_text().splitlines() == expected


def test_ray_engine_refuses_what_it_cannot_read(tmp_path: Path, tiny_model_dir: Path) -> None:
    from serving.archive import score_archive_lines
    from threadguard.errors import UsageError

    csv = tmp_path / "comments.csv"
    csv.write_text("body\nhello\n")
    with pytest.raises(UsageError, match="JSONL .* or Parquet"):
        next(score_archive_lines([csv], tiny_model_dir))
    with pytest.raises(UsageError, match="no such file"):
        next(score_archive_lines([tmp_path / "missing.jsonl"], tiny_model_dir))
