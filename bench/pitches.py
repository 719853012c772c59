"""Pitches: what a spam head changes, model dirs side by side (the first is the one compared against).

For each dir, through the serving loader at its own thresholds: the functional suite's spam cases (pass at the 0.5
cut-off, and the share a moderator gets to see: review or reject), the brief's own example (a gold pitch under a
trade-talks story), how many in-domain validation and test comments each decision takes (the moderators' load), and
off_topic ROC-AUC on every test split that annotates it, with the paired difference against the first dir. Last,
the test comments of each split whose off_topic the spam head raised most: what it mistakes for a pitch.

Run: .venv/bin/python -m bench.pitches MODEL_DIR MODEL_DIR [...]
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np

from bench.sections import machine, one_line_errors, write_section
from labels.schema import LABELS, Label
from labels.sets import read_jsonl
from serving.model import ContextText, Decision, Scorer, open_scorer
from threadguard.settings import PROJECT_ROOT, Settings
from training.config import TrainConfig
from training.data import assemble
from training.functional import load_suite
from training.report import paired_auc_difference

OFF_TOPIC = LABELS.index(Label.off_topic)
SPAM_CASES = ("off_topic_spam", "off_topic_spam_copying_article")
BRIEF_EXAMPLE = ContextText("Buy gold now at goldhub.example, returns guaranteed!", article_title="Trade talks between the US and China stall over tariffs")
INHOUSE = PROJECT_ROOT / "labels" / "data" / "inhouse-extended.jsonl"
SHOWN = 4
# Real pitches found in the data by hand (no corpus labels spam): in-domain comments labelled off-topic whose rationale
# names a pitch or an advert, and Kaggle-insults test comments carrying a spam link (the corpus labels only insults).
INHOUSE_PITCH_IDS = ("acc4aeb13f456d6f", "c71464d389b23716", "9139f604f58b4f31")
KAGGLE_SPAM_MARKERS = ("N u tty R i c h", "euamateurvids")


def _seen_share(scored: list) -> float:  # type: ignore[type-arg]
    return float(np.mean([r.decision is not Decision.allow for r in scored])) if scored else 0.0


def _load_line(name: str, scorer: Scorer, items: list) -> str:  # type: ignore[type-arg]
    """Decisions as the service makes them (Scorer.score: judged labels, the dir's thresholds)."""
    scored = scorer.score(items)
    decisions = [r.decision for r in scored]
    off = float(np.mean([r.scores[Label.off_topic] >= scorer.thresholds[Label.off_topic.value].review for r in scored]))
    return (f"| `{name}` | {np.mean([d is Decision.review for d in decisions]):.3f} | {np.mean([d is Decision.reject for d in decisions]):.3f} | "
            f"{off:.3f} | {scorer.thresholds[Label.off_topic.value].review:.4f} |")


def main(model_dirs: list[Path]) -> str:
    scorers = {d: open_scorer(d, device="cpu") for d in model_dirs}
    names = {d: d.resolve().name for d in model_dirs}
    base = model_dirs[0]
    cases = load_suite()
    lines = [f"Measured {dt.date.today()} on {machine()}. Command: `.venv/bin/python -m bench.pitches {' '.join(str(d) for d in model_dirs)}`.", "",
             "Functional suite spam cases (tests/functional/suite.toml): pass at 0.5, and the share that reaches review or reject at the dir's "
             "thresholds; `on_topic_low_overlap` must stay allowed. The brief's example is "
             f"\"{BRIEF_EXAMPLE.body}\" under \"{BRIEF_EXAMPLE.article_title}\".", "",
             "| model | " + " | ".join(f"{n} pass / seen" for n in SPAM_CASES) + " | on_topic_low_overlap pass | brief's example: off_topic, decision | the same sent without its article |",
             "|---|" + "---|" * (len(SPAM_CASES) + 3)]
    for d in model_dirs:
        cells = []
        for name in (*SPAM_CASES, "on_topic_low_overlap"):
            chosen = [c for c in cases if c.functionality == name]
            scored = scorers[d].score(chosen)
            passed = float(np.mean([(r.scores[Label.off_topic] >= 0.5) == bool(chosen[0].expect["off_topic"]) for r in scored]))
            cells.append(f"{passed:.2f} / {_seen_share(scored):.2f} ({len(chosen)})" if name in SPAM_CASES else f"{passed:.2f} ({len(chosen)})")
        for example in scorers[d].score([BRIEF_EXAMPLE, ContextText(BRIEF_EXAMPLE.body)]):
            cells.append(f"{example.scores[Label.off_topic]:.3f}, {example.decision.value}" + ("" if Label.off_topic in example.judged else " (off_topic not judged)"))
        lines.append(f"| `{names[d]}` | " + " | ".join(cells) + " |")

    rows = read_jsonl(INHOUSE, hand_labelled=True)
    for split in ("validation", "test"):
        chosen = [r for r in rows if r.split == split]
        lines += ["", f"Moderators' load on the in-domain {split} split ({INHOUSE.name}, {len(chosen)} comments): share sent to review and to reject "
                  "(any label), share at or above off_topic's review threshold, and that threshold:", "",
                  "| model | review | reject | off_topic ≥ review | off_topic review threshold |", "|---|---|---|---|---|"]
        lines += [_load_line(names[d], scorers[d], chosen) for d in model_dirs]

    from labels.corpora import corpus_folder, load_kaggle_insults

    real = [r for r in rows if r.id in INHOUSE_PITCH_IDS]
    real += [r for r in load_kaggle_insults(corpus_folder("kaggle_insults", Settings().datasets_dir))
             if r.split == "test" and any(m in r.body for m in KAGGLE_SPAM_MARKERS)]
    lines += ["", "Real pitches found by hand (in-domain comments labelled off-topic whose rationale names a pitch or advert, with their "
              "article; Kaggle-insults test comments with a spam link, sent without an article as Kaggle has none): off_topic and decision.", "",
              "| source | split | comment | " + " | ".join(f"`{names[d]}`" for d in model_dirs) + " |", "|---|---|---|" + "---|" * len(model_dirs)]
    scored_real = {d: scorers[d].score(real) for d in model_dirs}
    for i, r in enumerate(real):
        text = " ".join(r.body.split())[:90].replace("|", "/")
        cells = [f"{scored_real[d][i].scores[Label.off_topic]:.3f}, {scored_real[d][i].decision.value}"
                 + ("" if Label.off_topic in scored_real[d][i].judged else " (off_topic not judged)") for d in model_dirs]
        lines.append(f"| {r.source} | {r.split} | {text} | " + " | ".join(cells) + " |")

    bundle = assemble(TrainConfig.model_validate(scorers[base].model_dir.config.train_config), Settings().datasets_dir, progress=False)
    lines += ["", "off_topic ROC-AUC on every test split that annotates it, and the paired difference against the first dir "
              "(95 % paired bootstrap; * = the interval excludes 0):", "",
              "| test split | rows (positives) | " + " | ".join(f"`{names[d]}`" for d in model_dirs) + " |", "|---|---|" + "---|" * len(model_dirs)]
    lifted: list[str] = []
    for named in bundle.tests:
        annotated = [r for r in named.rows if r.off_topic is not None]
        y = np.array([r.off_topic for r in annotated])
        if not annotated or y.min() == y.max():
            continue
        probs = {d: scorers[d].predict_proba(annotated)[:, OFF_TOPIC] for d in model_dirs}
        cells = []
        for d in model_dirs:
            diff = paired_auc_difference(y, probs[base], probs[d]) if d != base else None
            cell = f"{_auc(y, probs[d]):.3f}"
            cells.append(cell if diff is None else f"{cell} ({diff.point:+.3f} [{diff.low:+.3f}, {diff.high:+.3f}]{' *' if diff.separates else ''})")
        lines.append(f"| {named.name} | {len(annotated)} ({int(y.sum())}) | " + " | ".join(cells) + " |")
        last = model_dirs[-1]
        raised = probs[last] - probs[base]
        for i in np.argsort(-raised)[:SHOWN]:
            if raised[i] > 0.05:
                text = " ".join(annotated[i].body.split())[:110].replace("|", "/")
                lifted.append(f"| {named.name} | {annotated[i].off_topic} | {probs[base][i]:.3f} → {probs[last][i]:.3f} | {text} |")
    if lifted:
        lines += ["", f"Test comments whose off_topic `{names[model_dirs[-1]]}` raised most over `{names[base]}` (raised by more than 0.05; "
                  f"up to {SHOWN} per split):", "", "| split | off_topic label | off_topic | comment |", "|---|---|---|---|", *lifted]
    return "\n".join(lines)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


if __name__ == "__main__":
    with one_line_errors():
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("model_dirs", nargs="+", type=Path)
        body = main(parser.parse_args().model_dirs)
        write_section("pitches", body)
        print(body)
