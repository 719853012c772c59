"""Runs side by side: how far a config change moves each test split, beside how far a rerun at another seed does.

Every model dir is evaluated here and now, as `threadguard evaluate` does (its own recorded config rebuilds its test
sets; int8 ONNX as served), so the table does not mix machines or data versions the way the dirs' own metrics.json
files can. Columns: what each dir's training config changes against the first dir's (both read through today's
TrainConfig, so keys added since read as their defaults), test ROC-AUC per split and
label, HateCheck accuracy at the calibrated 0.5 cut-off, the functional suite's pass rate, and, where a dir holds
`model.onnx`, the share of the parity sample's decisions (the first 1,000 in-house comments) on which its int8 file
agrees with fp32.

Run: .venv/bin/python -m bench.compare_runs MODEL_DIR [MODEL_DIR ...]
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, NamedTuple

from bench.int8_agreement import SAMPLE, agreement
from bench.sections import machine, one_line_errors, write_section
from labels.sets import read_jsonl
from serving.model import Scorer, open_scorer
from serving.transformer import ONNX_FILE, ONNX_INT8_FILE
from threadguard.artifact import Metrics
from threadguard.settings import PROJECT_ROOT, Settings
from training.config import TrainConfig
from training.pipeline import evaluate_opened, open_with_test_sets

PARITY_SAMPLE = PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl"


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"data.sources.4.limit": 6000, ...}: the keys `--set` takes."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= flatten(value, f"{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                out |= flatten(item, f"{name}.{i}.")
        else:
            out[name] = value
    return out


def config_changes(base: Mapping[str, Any], other: Mapping[str, Any], ignore: Sequence[str] = ("name",)) -> list[str]:
    """`key=value` for every key whose value in `other` differs from `base` (or that only one of them has)."""
    a, b = flatten(base), flatten(other)
    return [f"{k}={b.get(k, '(unset)')}" for k in sorted(a.keys() | b.keys()) if k not in ignore and a.get(k) != b.get(k)]


def hatecheck_accuracy(metrics: Metrics, at: Literal["0.5", "review"] = "0.5") -> float | None:
    """HateCheck's hate accuracy at the calibrated 0.5 cut-off (or at="review": at the hate review threshold), from the
    evaluation's own scores."""
    hatecheck = next((s for s in metrics.eval_sets if s.name.startswith("hatecheck") and "hate" in s.labels), None)
    if hatecheck is None:
        return None
    return hatecheck.labels["hate"].accuracy if at == "0.5" else hatecheck.labels["hate"].review.get("accuracy")


def int8_agreement(model_dir: Path, rows: Sequence) -> float | None:  # type: ignore[type-arg]
    if not (model_dir / ONNX_FILE).is_file() or not (model_dir / ONNX_INT8_FILE).is_file():
        return None
    fp32 = open_scorer(model_dir, device="cpu", runtime="onnx").score(rows)
    return agreement(fp32, open_scorer(model_dir, device="cpu", runtime="onnx-int8").score(rows))


class Run(NamedTuple):
    """One model dir's row of the comparison."""

    scorer: Scorer
    roc_aucs: dict[tuple[str, str], float]
    hatecheck_at_half: float | None
    hatecheck_at_review: float | None
    suite: float | None
    int8_agreement: float | None


def roc_aucs(metrics: Metrics) -> dict[tuple[str, str], float]:
    return {(s.name, label): m.roc_auc for s in metrics.eval_sets for label, m in s.labels.items() if m.roc_auc is not None}


def main(model_dirs: list[Path], datasets_dir: Path) -> str:
    parity = read_jsonl(PARITY_SAMPLE)[:SAMPLE]
    results: list[Run] = []
    for model_dir in model_dirs:
        scorer, bundle = open_with_test_sets(model_dir, datasets_dir=datasets_dir, device="cpu", progress=False)
        metrics, _ = evaluate_opened(scorer, bundle)
        results.append(Run(scorer, roc_aucs(metrics), hatecheck_accuracy(metrics), hatecheck_accuracy(metrics, at="review"),
                           (metrics.functional or {}).get("overall"), int8_agreement(scorer.model_dir.path, parity)))
    # Through TrainConfig, so a key the config gained after a run was trained reads as its default, not as a change.
    configs = [TrainConfig.model_validate(r.scorer.model_dir.config.train_config).model_dump(mode="json") for r in results]
    keys = [k for k in results[0].roc_aucs if all(k in r.roc_aucs for r in results)]
    names = [f"`{r.scorer.name}`" for r in results]
    lines = [
        f"Measured {dt.date.today()} on {machine()}; int8 ONNX as served, each dir's test sets rebuilt from its own config.",
        f"Command: `.venv/bin/python -m bench.compare_runs {' '.join(str(d) for d in model_dirs)}`.",
        "",
        *[f"- {name}: " + (", ".join(f"`{c}`" for c in config_changes(configs[0], config)) or "the reference")
          for name, config in zip(names, configs, strict=True)],
        "",
        "| test set | label | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(results),
    ]
    lines += [f"| {split} | {label} | " + " | ".join(f"{r.roc_aucs[(split, label)]:.3f}" for r in results) + " |" for split, label in keys]

    def row(title: str, values: list[float | None], fmt: str) -> str:
        return f"| {title} | | " + " | ".join("–" if v is None else format(v, fmt) for v in values) + " |"

    lines += [row("HateCheck accuracy at 0.5", [r.hatecheck_at_half for r in results], ".3f"),
              row("HateCheck accuracy at the hate review threshold", [r.hatecheck_at_review for r in results], ".3f"),
              row("functional suite", [r.suite for r in results], ".3f"),
              row("int8 decisions equal to fp32 (first 1000 in-house)", [r.int8_agreement for r in results], ".1%")]
    body = "\n".join(lines)
    write_section("compare-runs", body)
    return body


if __name__ == "__main__":
    with one_line_errors():
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("model_dirs", nargs="+", type=Path)
        args = parser.parse_args()
        print(main(args.model_dirs, Settings().datasets_dir))
