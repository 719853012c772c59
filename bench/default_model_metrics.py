"""Per-label test metrics of a model dir on every test split, written to docs/benchmarks.md.

Run: .venv/bin/python -m bench.default_model_metrics [MODEL_DIR [SECTION]]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

from bench.sections import machine, write_section
from threadguard.settings import Settings
from training.pipeline import evaluate_model_dir


def main(model_dir: Path, section: str = "default-model-metrics") -> None:
    settings = Settings()
    started = time.perf_counter()
    metrics, warnings = evaluate_model_dir(model_dir, datasets_dir=settings.datasets_dir, device="cpu")
    seconds = time.perf_counter() - started
    name = model_dir.resolve().name
    lines = [
        f"Model `{name}`, measured {dt.date.today()} on {machine()}; evaluation took {seconds:.0f} s.",
        f"Command: `.venv/bin/python -m bench.default_model_metrics {model_dir}{'' if section == 'default-model-metrics' else ' ' + section}` (the same numbers as `threadguard evaluate`).",
        "Thresholds were chosen on validation splits; every row below is a test split (the seed set and HateCheck are evaluation only).",
        "",
        "| test set | label | n | positives | ROC-AUC | PR-AUC | precision@review | recall@review | F1@review | ECE |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for eval_set in metrics.eval_sets:
        for label, m in eval_set.labels.items():
            roc = "n/a" if m.roc_auc is None else f"{m.roc_auc:.3f}"
            pr = "n/a" if m.pr_auc is None else f"{m.pr_auc:.3f}"
            lines.append(f"| {eval_set.name} | {label} | {m.n} | {m.positives} | {roc} | {pr} | {m.review['precision']:.3f} | {m.review['recall']:.3f} | {m.review['f1']:.3f} | {'n/a' if m.ece is None else f'{m.ece:.3f}'} |")
    lines += [f"- warning: {w}" for w in warnings]
    write_section(section, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models/current"), *(sys.argv[2:3]))
