"""int8 on x86 CPUs without VNNI: ONNX Runtime's saturating uint8 x int8 kernel against the exact one.

Without VNNI, ONNX Runtime multiplies uint8 activations by int8 weights with an instruction that adds pairs of
products into int16 and saturates; `session.x64quantprecision` (the service's default since 2026-12-03,
serving.transformer.onnx_session_options) makes it use uint8 x uint8 there. For each model dir the int8 file is
scored both ways, in one run on the same rows: decisions against each other (and against fp32 ONNX where the dir
holds it) on the parity test's 1,000 in-house rows, ROC-AUC on every test split of the dir's config, HateCheck and
functional-suite pass rates, and speed on 2,000 Kaggle comments. On a CPU with VNNI both columns must be equal: there
the service leaves the option off (serving.transformer.int8_can_saturate), since it computes the same and only slows
the VNNI kernel, so both columns run the same session there.

Run: .venv/bin/python -m bench.int8_precision [MODEL_DIR ...]
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

import numpy as np

from bench.compare_runs import PARITY_SAMPLE, hatecheck_accuracy, roc_aucs
from bench.int8_agreement import SAMPLE, agreement
from bench.score_throughput import SAMPLE as SPEED_SAMPLE
from bench.score_throughput import timed
from bench.sections import machine, one_line_errors, write_section
from labels.corpora import load_corpus
from labels.schema import LABELS
from labels.sets import read_jsonl
from serving.model import Scorer, open_scorer
from serving.transformer import ONNX_FILE
from threadguard.settings import Settings
from training.pipeline import evaluate_opened, open_with_test_sets

WAYS = {"exact (x64quantprecision on)": True, "saturating (off)": False}


def _scorers(model_dir: Path) -> dict[str, Scorer]:
    return {way: open_scorer(model_dir, device="cpu", runtime="onnx-int8", int8_precision=flag) for way, flag in WAYS.items()}


def measure(model_dir: Path, datasets_dir: Path, speed_sample: list) -> list[str]:
    parity = read_jsonl(PARITY_SAMPLE)[:SAMPLE]
    scorers = _scorers(model_dir)
    decisions = {way: s.score(parity) for way, s in scorers.items()}
    scores = {way: np.array([[d.scores[label] for label in LABELS] for d in scored]) for way, scored in decisions.items()}
    (exact_way, exact), (fast_way, fast) = decisions.items()
    name = model_dir.resolve().name
    lines = [f"### `{name}`", "",
             f"On the parity sample ({len(parity)} in-house comments) the two kernels' decisions differ on "
             f"{sum(x.decision != y.decision for x, y in zip(exact, fast, strict=True))}; largest score difference "
             + ", ".join(f"{label.value} {d:.4f}" for label, d in zip(LABELS, np.abs(scores[exact_way] - scores[fast_way]).max(axis=0), strict=True))
             + "."]
    if (model_dir / ONNX_FILE).is_file():
        fp32 = open_scorer(model_dir, device="cpu", runtime="onnx").score(parity)
        lines.append("Decisions equal to fp32 ONNX's (issue 7 asks ≥ 99 %): " + ", ".join(
            f"{way} {agreement(fp32, d):.1%}" for way, d in decisions.items()) + ".")
    else:
        lines.append("The dir holds no fp32 ONNX, so neither is compared with fp32 here.")
    _, bundle = open_with_test_sets(model_dir, datasets_dir=datasets_dir, device="cpu", progress=False)
    metrics = {way: evaluate_opened(s, bundle)[0] for way, s in scorers.items()}
    speed = {way: timed(s, speed_sample) for way, s in scorers.items()}
    lines += ["", "| | " + " | ".join(WAYS) + " |", "|---|" + "---|" * len(WAYS)]
    lines.append(f"| comments/s, batches of 32 ({SPEED_SAMPLE} Kaggle comments, median of 3) | " + " | ".join(f"{speed[w][0]:.0f}" for w in WAYS) + " |")
    lines.append("| one comment p50 | " + " | ".join(f"{speed[w][1]:.2f} ms" for w in WAYS) + " |")
    lines.append("| HateCheck accuracy at 0.5 | " + " | ".join(_fmt(hatecheck_accuracy(metrics[w])) for w in WAYS) + " |")
    lines.append("| functional suite, overall | " + " | ".join(_fmt(metrics[w].functional["overall"] if metrics[w].functional else None) for w in WAYS) + " |")
    aucs = {w: roc_aucs(metrics[w]) for w in WAYS}
    for key in aucs[exact_way]:
        lines.append(f"| {key[0]} {key[1]} ROC-AUC | " + " | ".join(_fmt(aucs[w].get(key)) for w in WAYS) + " |")
    return lines


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def main(model_dirs: list[Path]) -> None:
    settings = Settings()
    speed_sample = random.Random(0).sample(load_corpus("kaggle_insults", settings.datasets_dir), SPEED_SAMPLE)
    lines = [f"Measured {dt.date.today()} on {machine()}, in one run on the same rows.",
             f"Command: `.venv/bin/python -m bench.int8_precision {' '.join(str(d) for d in model_dirs)}`", ""]
    for model_dir in model_dirs:
        lines += measure(model_dir, settings.datasets_dir, speed_sample) + [""]
    write_section("int8-precision", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        main([Path(p) for p in sys.argv[1:]] or [Path("models/current")])
