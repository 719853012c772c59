"""How steady a model dir's spam-head strength is: the same encoder, the spam head fit again at several seeds.

The seed draws the training comments the pitches are told from (training/spam_head.py's sample of MAX_NEGATIVES) and
the offers held out together in each fold. Both are accidents of the run, so a C that changes with them is chosen by
noise. For each seed: the held-out-offer recall and validation lift of every C (`sweep_strengths`), the C the rule in
training/spam_head.py keeps (`pick_strength`, with its recall slack) and the C the rule before it kept (best recall,
the smaller C on a tie), and what each chosen head does to the validation comments: the share lifted to LIFT_AT, and
which comments are lifted at some seeds but not at others (a review a moderator gets or not by the draw).
Embeddings come from the dir's own int8 encoder, once for every text any seed uses.
Run: .venv/bin/python -m bench.spam_head_stability MODEL_DIR [--seeds 8] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.sections import machine, one_line_errors, write_section
from serving.heads import unit
from serving.model import open_scorer
from threadguard.artifact import read_model_dir
from threadguard.errors import UsageError
from threadguard.settings import Settings
from training.spam import offer_of
from training.spam_head import (
    LIFT_AT,
    MAX_VALIDATION_LIFT,
    RECALL_SLACK_PITCHES,
    candidate_texts,
    pick_strength,
    sample_negatives,
    sweep_strengths,
    validation_rows,
    validation_texts,
)

RULES = ("before (best recall, smaller C)", f"slack of {RECALL_SLACK_PITCHES} pitches, least lift")


def pick_before(recall: dict[float, float], lifted: dict[float, float]) -> float:
    """The rule before the recall slack: best held-out recall within the lift cap, the smaller C on a tie."""
    strengths = sorted(recall)
    allowed = [c for c in strengths if lifted[c] <= MAX_VALIDATION_LIFT]
    if not allowed:
        return min(strengths, key=lambda c: (lifted[c], c))
    return max(allowed, key=lambda c: (recall[c], -c))


def main(model_dir: Path, seeds: int, overrides: Sequence[str] = ()) -> str:
    from labels.schema import LABELS
    from training.config import config_from_dict
    from training.data import assemble

    if seeds < 1:
        raise UsageError(f"--seeds must be 1 or more, not {seeds}")
    source = read_model_dir(model_dir, expected_labels=[label.value for label in LABELS])
    config = config_from_dict(source.config.train_config, list(overrides), origin=str(model_dir))
    bundle = assemble(config, Settings().datasets_dir, progress=False)
    scorer = open_scorer(model_dir, device="cpu", runtime="onnx-int8")
    seed_list = [config.seed + k for k in range(seeds)]
    pitches, candidates = candidate_texts(scorer, bundle.train)  # the seeds differ only in the sample drawn from these
    drawn = {seed: sample_negatives(candidates, seed=seed) for seed in seed_list}
    valid = validation_texts(scorer, validation_rows(bundle))
    every = list(dict.fromkeys([t for negatives in drawn.values() for t in negatives]))
    embed = lambda texts: unit(scorer.backend.embed(texts))  # noqa: E731
    pitch_x, valid_x = embed(pitches), embed(valid)
    neg_x = dict(zip(every, embed(every), strict=True))
    offers = [offer_of(t) for t in pitches]

    chosen: dict[str, list[float]] = {rule: [] for rule in RULES}
    lifted_by: dict[str, list[np.ndarray]] = {rule: [] for rule in RULES}
    rows = []
    for seed in seed_list:
        negatives = np.stack([neg_x[t] for t in drawn[seed]])
        swept = sweep_strengths(pitch_x, offers, negatives, valid_x, seed=seed)
        picks = dict(zip(RULES, (pick_before(swept.recall, swept.lifted), pick_strength(swept.recall, swept.lifted, held_out=swept.held_out)), strict=True))
        for rule, c in picks.items():
            chosen[rule].append(c)
            lifted_by[rule].append(swept.fitted[c].predict_proba(valid_x)[:, 1] >= LIFT_AT)
        cells = ", ".join(f"{c:g}: {round(swept.recall[c] * swept.held_out)} / {swept.lifted[c]:.2%}" for c in sorted(swept.recall))
        rows.append(f"| {seed} | {cells} | {picks[RULES[0]]:g} | {picks[RULES[1]]:g} |")

    lines = [
        f"Measured {dt.date.today()} on {machine()}; `{source.config.name}`'s encoder (int8 as served), "
        f"{len(pitches)} pitches against {_sample_sizes(drawn)} training comments per seed, {len(valid)} validation comments.",
        f"Command: `.venv/bin/python -m bench.spam_head_stability {model_dir} --seeds {seeds}"
        + "".join(f" --set {o}" for o in overrides) + "`",
        "",
        f"Per seed and C: held-out pitches found / validation comments lifted to {LIFT_AT}; the C each rule keeps "
        f"(lift cap {MAX_VALIDATION_LIFT:.0%}):",
        "",
        "| seed | C: found / lifted | before | now |",
        "|---|---|---|---|",
        *rows,
        "",
        "| rule | C kept (seeds) | most common C | validation lifted, mean | lifted at some seeds, not at all |",
        "|---|---|---|---|---|",
    ]
    for rule in RULES:
        counts = collections.Counter(chosen[rule])
        lifted = np.stack(lifted_by[rule])
        some_not_all = int((lifted.any(axis=0) & ~lifted.all(axis=0)).sum())
        kept = ", ".join(f"{c:g} ×{n}" for c, n in sorted(counts.items()))
        mode, times = counts.most_common(1)[0]
        lines.append(f"| {rule} | {kept} | {mode:g} ({times} of {seeds}) | {statistics.mean(lifted.mean(axis=1)):.3%} | "
                     f"{some_not_all} of {len(valid)} |")
    return "\n".join(lines)


def _sample_sizes(drawn: dict[int, list[str]]) -> str:
    """The number of training comments the seeds drew: one number, or the least and most."""
    sizes = sorted({len(negatives) for negatives in drawn.values()})
    return " to ".join(str(s) for s in (sizes[0], sizes[-1])) if len(sizes) > 1 else str(sizes[0])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    with one_line_errors():
        body = main(args.model_dir, args.seeds, args.overrides)
    print(body)
    write_section("spam-head-stability", body)
