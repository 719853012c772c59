"""The threadguard command: outputs on stdout only, one-line errors with exit codes, no partial files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEEDS
from threadguard.settings import PROJECT_ROOT


def tg(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from threadguard.cli import run; run()", *args], capture_output=True, text=True, input=stdin, cwd=PROJECT_ROOT, timeout=120)


@pytest.mark.skipif(not SEEDS.is_dir(), reason="needs ../shared/seeds")
def test_parse_writes_only_json_lines_to_stdout() -> None:
    result = tg("parse", *map(str, sorted(SEEDS.glob("*.txt"))))
    assert result.returncode == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 25
    assert set(rows[0]) >= {"id", "thread_id", "author", "reply_to", "posted_at", "body", "article_title", "article_text"}
    assert "parsed 25 comments" in result.stderr


def test_parse_malformed_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("T\n\nfoo Tue, 02/30/2018 - 10:48 Permalink\nhi\n")
    result = tg("parse", str(bad))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0 and f"{bad}:3:" in result.stderr and "Traceback" not in result.stderr


def test_parse_missing_file_is_exit_2(tmp_path: Path) -> None:
    result = tg("parse", str(tmp_path / "absent.txt"))
    assert result.returncode == 2 and "cannot read file" in result.stderr


def test_score_writes_ids_scores_decisions_and_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "body": "you are an idiot, really", "article_title": "Trade talks"}\n{"id": "b", "body": "good point, thanks for sharing", "parent_body": null}\n')
    out = tmp_path / "out.jsonl"
    result = tg("score", str(source), "--model", str(tiny_model_dir), "--output", str(out), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert rows[0]["scores"]["insult"] > rows[1]["scores"]["insult"]
    assert {r["decision"] for r in rows} <= {"allow", "review", "reject"} and rows[0]["model"]["name"].startswith("tg-tiny-")


def test_score_malformed_line_fails_the_file_without_partial_output(tmp_path: Path, tiny_model_dir: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "body": "fine"}\n{"id": "b"}\n')
    out = tmp_path / "out.jsonl"
    result = tg("score", str(source), "--model", str(tiny_model_dir), "--output", str(out))
    assert result.returncode == 2 and f"{source}:2: missing or empty field 'body'" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [source]


def test_score_with_a_broken_model_dir_is_one_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"body": "fine"}\n')
    result = tg("score", str(source), "--model", str(tmp_path / "nomodel"))
    assert result.returncode == 1 and "model directory not found" in result.stderr and "Traceback" not in result.stderr


def test_train_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('name="x"\nbogus=1\n[data]\nsources=[{corpus="ethos"}]\n')
    result = tg("train", "--config", str(config))
    assert result.returncode == 2 and result.stderr.strip() == f"error: {config}: bogus: unknown key"
    missing = tg("train", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "config file not found" in missing.stderr
    alpha = tg("train", "--config", "training/configs/minilm.toml", "--set", "transformer.int8_smoothing_alpha=1.5")
    assert alpha.returncode == 2 and len(alpha.stderr.strip().splitlines()) == 1 and "transformer.int8_smoothing_alpha: Input should be less than or equal to 1" in alpha.stderr


def test_train_exports_a_model_from_the_cli(tmp_path: Path, tiny_set_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(
        f'name = "cli"\n[data]\neval_corpora = []\nsources = [{{path = "{tiny_set_path}", off_topic_pairs = true}}]\n'
        '[linear]\nword_max_features = 500\nchar_max_features = 500\nmin_df = 1\n'
    )
    result = tg("train", "--config", str(config), "--models-dir", str(tmp_path / "models"), "--activate")
    assert result.returncode == 0, result.stderr
    dest = Path(result.stdout.strip())
    assert dest.parent == tmp_path / "models" and (tmp_path / "models" / "current").resolve() == dest.resolve()
    assert "fitting labels" in result.stderr  # progress bars go to stderr


def test_evaluate_prints_a_table(tiny_model_dir: Path) -> None:
    result = tg("evaluate", str(tiny_model_dir), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "ROC-AUC" in result.stdout and "seed" in result.stdout
    header, *rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
    assert header[-3:] == ["ECE", "acc@0.5", "acc@rev"]
    assert all(0.0 <= float(row[-2]) <= 1.0 for row in rows)  # every test set's accuracy at the 0.5 cut-off
    assert all(0.0 <= float(row[-1]) <= 1.0 for row in rows)  # and at the label's review threshold


def test_usage_error_exit_2() -> None:
    result = tg("score")
    assert result.returncode == 2


def test_train_refuses_fp16_on_cpu_in_one_line_before_reading_data(tmp_path: Path) -> None:
    result = tg("train", "--config", "training/configs/minilm.toml", "--device", "cpu", "--set", "transformer.mixed_precision=fp16",
                "--datasets-dir", str(tmp_path / "no-such-datasets"))
    # (a missing datasets dir would be the error if the data were read first)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "error: transformer.mixed_precision fp16 needs a CUDA device; on CPU use bf16 (or off)"]


@pytest.mark.slow  # four CLI processes, two of them loading PyTorch: about 11 s
def test_score_runs_the_runtime_asked_for_and_refuses_one_the_dir_lacks_in_one_line(tmp_path: Path, tiny_transformer_dir: Path) -> None:
    import shutil

    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "body": "you are an idiot, really"}\n')
    by_runtime = {}
    for runtime in ("onnx-int8", "torch-bf16"):
        result = tg("score", str(source), "--model", str(tiny_transformer_dir), "--device", "cpu", "--runtime", runtime)
        assert result.returncode == 0, result.stderr
        assert f"transformer runtime {runtime} on cpu" in result.stderr
        by_runtime[runtime] = json.loads(result.stdout)["scores"]
    assert by_runtime["onnx-int8"] != by_runtime["torch-bf16"]
    int8_only = tmp_path / "int8-only"
    shutil.copytree(tiny_transformer_dir, int8_only, ignore=shutil.ignore_patterns("hf", "model.onnx"))
    lacking = tg("score", str(source), "--model", str(int8_only), "--device", "cpu", "--runtime", "torch-bf16")
    assert lacking.returncode == 1 and lacking.stderr.strip().splitlines()[-1].startswith("error: runtime 'torch-bf16' asked for, but the model dir only has")
    unknown = tg("score", str(source), "--model", str(tiny_transformer_dir), "--runtime", "fp8")
    assert unknown.returncode == 2 and "fp8" in unknown.stderr
