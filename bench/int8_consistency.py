"""int8-consistency fine-tuning (training/int8_aware.py) on a trained model dir: decisions through int8 against fp32
as the phase runs, and what it costs in accuracy.

Loads MODEL_DIR's full-precision weights (`hf/`) and heads, rebuilds its training rows from the config it records, and
runs the phase for STEPS steps at WEIGHT and LR (the `int8_consistency_*` keys of the transformer config). At step 0
and at each of the phase's history points it scores the in-house comments in PyTorch fp32 and through the simulated
int8 rounding (which matches ONNX Runtime's int8 graph of the exported encoder to 5e-7 where int8 itself moves the
embedding by 6e-3: tests/unit/training/test_int8_aware.py), and counts equal decisions (allow / review / reject) on
rows 1,001-1,556 of inhouse.jsonl, where the phase's settings are chosen, and on the first 1,000, the parity test's
sample, where the choice is reported. The in-house validation ROC-AUC per label (fp32) shows any cost in accuracy.
Calibration and thresholds stay the dir's own throughout (the pipeline refits them after the phase). The simulated
int8 is plain dynamic int8, without the export's activation smoothing.

Run: .venv/bin/python -m bench.int8_consistency MODEL_DIR [STEPS WEIGHT LR]
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

from bench.int8_agreement import agreement
from bench.int8_smoothing import PARITY_SAMPLE
from bench.sections import machine, one_line_errors, write_section
from labels.sets import read_jsonl
from serving.heads import HEADS_FILE, Heads
from serving.model import Scorer, open_scorer
from serving.transformer import HF_DIR
from threadguard.errors import ArtifactError
from threadguard.settings import PROJECT_ROOT, Settings


def training_rows(model_dir: Path):  # type: ignore[no-untyped-def]
    """The dir's config and its training rows, encoded as `threadguard train` encodes them."""
    from serving.transformer import TOKENIZER_FILE, load_tokenizer
    from training.config import TrainConfig
    from training.data import assemble
    from training.finetune import budget_of, encode_rows
    from training.pipeline import as_the_model_reads

    config = TrainConfig.model_validate(json.loads((model_dir / "config.json").read_text())["train_config"])
    bundle = assemble(config, Settings().datasets_dir, progress=False)
    bundle = as_the_model_reads(config, bundle)
    tokenizer = load_tokenizer(model_dir / TOKENIZER_FILE, config.transformer.max_length)
    return config, encode_rows(tokenizer, bundle.train, bundle.train_weights, budget_of(config.transformer))


def validation_aucs(scorer: Scorer, rows: list) -> list[float]:  # type: ignore[type-arg]
    """ROC-AUC per label in LABELS order (NaN where the rows lack a class)."""
    from labels.schema import LABELS
    from training.evaluate import label_matrix
    from training.finetune import labelled_aucs

    aucs = labelled_aucs(label_matrix(rows), scorer.predict_proba(rows))
    return [aucs.get(label.value, float("nan")) for label in LABELS]


def main(model_dir: Path, steps: int = 300, weight: float = 10.0, learning_rate: float = 2e-5) -> None:
    import torch
    from safetensors.torch import load_file

    from training.finetune import build_biencoder, positive_weights
    from training.int8_aware import consistency_tune, simulated_int8

    if not (model_dir / HF_DIR).is_dir():
        raise ArtifactError(f"{model_dir} has no {HF_DIR}/: rebuild the model with `threadguard train` first")
    rows = read_jsonl(PROJECT_ROOT / "labels" / "data" / "inhouse.jsonl")
    parity, choice = rows[:PARITY_SAMPLE], rows[PARITY_SAMPLE:]
    validation = [r for r in rows if r.split == "validation"]
    config, train = training_rows(model_dir)
    tcfg = config.transformer.model_copy(update={"int8_consistency_steps": steps, "int8_consistency_weight": weight,
                                                 "int8_consistency_learning_rate": learning_rate})
    torch.manual_seed(config.seed)
    scorer = open_scorer(model_dir, device="cpu", runtime="torch")
    backend = scorer.backend
    model = build_biencoder(backend.torch_model, context_grad=tcfg.context_grad)  # type: ignore[attr-defined]
    loaded = model.load_state_dict(load_file(str(model_dir / HEADS_FILE)), strict=False)  # the encoder is already the dir's
    if loaded.unexpected_keys or not all(k.startswith("encoder.") for k in loaded.missing_keys):
        raise ArtifactError(f"{model_dir / HEADS_FILE} does not hold both heads (unexpected {loaded.unexpected_keys})")

    def measure(step: int) -> str:
        heads = {k: v.numpy() for k, v in model.head_state().items()}
        backend.heads = Heads(heads["comment.weight"], heads["comment.bias"], heads["context.weight"], heads["context.bias"])  # type: ignore[attr-defined]
        results = []
        for part in (choice, parity):
            backend.forget_articles()  # type: ignore[attr-defined]  # articles are embedded afresh in each arithmetic
            fp32 = scorer.score(part)
            backend.forget_articles()  # type: ignore[attr-defined]
            with simulated_int8(backend.torch_model):  # type: ignore[attr-defined]
                int8 = scorer.score(part)
            results.append(agreement(fp32, int8))
        backend.forget_articles()  # type: ignore[attr-defined]
        aucs = validation_aucs(scorer, validation)
        line = f"| {step} | {results[0]:.1%} | {results[1]:.1%} | " + " | ".join(f"{a:.3f}" for a in aucs) + " |"
        print(line, flush=True)
        return line

    lines = [
        f"Model `{model_dir.name}`; phase: {steps} steps, gap weight {weight:g}, learning rate {learning_rate:g}, batches of {tcfg.batch_size} "
        + f"from its {len(train.lengths)} training rows; measured {dt.date.today()} on {machine()}.",
        f"Command: `.venv/bin/python -m bench.int8_consistency {model_dir} {steps} {weight:g} {learning_rate:g}`.",
        "",
        f"| phase step | decisions equal to fp32, rows 1001-{len(rows)} (choice, {len(choice)}) | the same, first {len(parity)} (parity sample) "
        + f"| in-house validation ROC-AUC ({len(validation)} rows, fp32): hate | insult | off_topic |",
        "|---|---|---|---|---|---|",
        measure(0),
    ]
    pos_weight = torch.from_numpy(positive_weights(train.labels, tcfg.pos_weight_max))
    start = time.perf_counter()
    history = consistency_tune(model, train, tcfg, pos_weight=pos_weight, seed=config.seed, device="cpu",
                               after_stretch=lambda step: lines.append(measure(step)))
    lines += ["", "Mean squared fp32/int8 logit gap on the training batches, per stretch: "
              + ", ".join(f"{h['mean_squared_logit_gap']:.2e}" for h in history)
              + f". The phase with its measurements took {time.perf_counter() - start:.0f} s."]
    write_section("int8-consistency", "\n".join(lines))


if __name__ == "__main__":
    with one_line_errors():
        args = sys.argv[1:]
        main(Path(args[0]), *([int(args[1]), float(args[2]), float(args[3])] if len(args) == 4 else []))
