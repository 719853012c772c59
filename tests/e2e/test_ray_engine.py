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
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"body": "fine"}\n{"body": 5}\n')
    runs = [tg(db, "score", str(bad), "--model", str(tiny_model_dir), "--device", "cpu", *engine, "--output", str(tmp_path / "bad-out.jsonl"),
               env={"RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"}, timeout=300) for engine in ([], ["--engine", "ray"])]
    for run in runs:  # a malformed row: the same one-line file:line error from both engines, and nothing written
        assert run.returncode == 2 and run.stderr.strip().splitlines()[-1] == f"error: {bad}:2: missing or empty field 'body'"
    assert not (tmp_path / "bad-out.jsonl").exists()


def test_ray_engine_refuses_what_it_cannot_read(tmp_path: Path, tiny_model_dir: Path) -> None:
    from serving.archive import score_archive_lines
    from threadguard.errors import UsageError

    csv = tmp_path / "comments.csv"
    csv.write_text("body\nhello\n")
    with pytest.raises(UsageError, match="JSONL .* or Parquet"):
        next(score_archive_lines([csv], tiny_model_dir))
    with pytest.raises(UsageError, match="no such file"):
        next(score_archive_lines([tmp_path / "missing.jsonl"], tiny_model_dir))


def test_chunks_cover_every_row_once_with_their_line_numbers(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serving.archive import jsonl_chunks, parquet_chunks, read_chunk

    lines = [json.dumps({"id": i, "body": f"comment {i}"}) for i in range(600)]
    lines.insert(300, "")  # a blank line is skipped but still counts for line numbers
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join(lines) + "\n")
    chunks = list(jsonl_chunks(path, rows=256))
    assert [c["rows"] for c in chunks] == [256, 256, 88]
    records = [pair for chunk in chunks for pair in read_chunk(chunk)]
    assert [r["id"] for _, r in records] == list(range(600))
    assert records[300] == (302, {"id": 300, "body": "comment 300"})  # line 301 is the blank one
    parquet = tmp_path / "a.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": i, "body": f"comment {i}"} for i in range(600)]), parquet, row_group_size=100)
    rows = [pair for chunk in parquet_chunks(parquet, rows=256) for pair in read_chunk(chunk)]
    assert [r["id"] for _, r in rows] == list(range(600)) and rows[256][0] == 257


@pytest.mark.slow  # a local Ray cluster and the tiny transformer
def test_ray_engine_matches_for_a_batch_sensitive_int8_model(tiny_transformer_dir: Path, tmp_path: Path) -> None:
    # int8 scores depend on which comments share a batch: the engines agree because they score the same chunks.
    rows = [{"id": f"c{i}", "body": f"comment number {i} about tariffs" + " really" * (i % 17)} for i in range(600)]
    archive = tmp_path / "big.jsonl"
    archive.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = f"sqlite:///{tmp_path / 'unused.db'}"
    common = ["--model", str(tiny_transformer_dir), "--device", "cpu"]
    local = tg(db, "score", str(archive), *common, "--output", str(tmp_path / "local.jsonl"))
    ray = tg(db, "score", str(archive), *common, "--engine", "ray", "--output", str(tmp_path / "ray.jsonl"),
             env={"RAY_ADDRESS": "", "RAY_USAGE_STATS_ENABLED": "0"}, timeout=300)
    assert local.returncode == 0 and ray.returncode == 0, ray.stderr[-2000:]
    assert (tmp_path / "ray.jsonl").read_text() == (tmp_path / "local.jsonl").read_text()


def test_each_ray_actor_opens_the_runtime_asked_for(tiny_transformer_dir: Path) -> None:
    """--runtime reaches the actors: each opens the model dir with it, as the single-process scorer does."""
    from serving.archive import ScoreChunks

    assert ScoreChunks(str(tiny_transformer_dir)).scorer.backend.runtime == "onnx-int8"
    assert ScoreChunks(str(tiny_transformer_dir), runtime="torch-bf16").scorer.backend.runtime == "torch-bf16"
