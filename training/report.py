"""The evaluation report: every system scored on the same test rows, tables with bootstrap CIs, PNG plots.

Systems are the evaluated model dir (through the serving Scorer), optional comparison model dirs, and peer
tools that run offline here; a peer that cannot run is listed with the reason. HateCheck is reported per
functionality and per target group at the 0.5 cut-off of the calibrated hate score.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import precision_recall_curve, roc_auc_score

from labels.schema import LABELS, LabelledComment
from training.bias import GroupFPR, bias_plot, bias_tables, subgroup_aucs
from training.calibration import expected_calibration_error
from training.data import NamedSet
from training.evaluate import label_matrix

log = logging.getLogger(__name__)

TRAINED_MARK = " †"  # beside a system that trained on the corpus a held-out set comes from
Predict = Callable[[Sequence[LabelledComment]], np.ndarray]  # (n, 3); NaN columns for labels a system lacks
# Whether the service would hold each row for a moderator (review or reject on any label), given its scores
Held = Callable[[Sequence[LabelledComment], np.ndarray], np.ndarray]


@dataclass
class System:
    """Something that scores comments: a model dir runtime or a peer tool."""

    name: str
    predict: Predict | None
    note: str = ""
    # Corpora whose training rows this system learnt from: on a set the main model holds out, a system that trained on
    # that corpus is scored in-domain, and its row must say so rather than pass as a cross-domain comparison.
    trained_on: frozenset[str] = frozenset()


@dataclass
class Scored:
    name: str
    y: np.ndarray
    probs: dict[str, np.ndarray] = field(default_factory=dict)


def paired_bootstrap(statistic: Callable[[np.ndarray], float | None], size: int, *, n: int, seed: int) -> tuple[float, float]:
    """95 % percentile interval of `statistic(idx)` over `n` resamples of `size` row indices.

    Every model or variant the statistic compares is read at the same `idx`, so their shared row noise cancels.
    A resample where the statistic is undefined (None: one class drawn) is skipped.
    """
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(n):
        value = statistic(rng.integers(0, size, size))
        if value is not None:
            samples.append(value)
    low, high = np.percentile(samples, [2.5, 97.5])
    return float(low), float(high)


def rank_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """ROC-AUC as the Mann-Whitney statistic on average ranks (ties count half, as roc_auc_score counts them); None with
    one class. The bootstrap calls it thousands of times per report, and roc_auc_score's input checks cost about 5 ms a
    call, which made a report's intervals take most of its time."""
    positive = y == 1
    n_pos = int(positive.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(p)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_auc(y: np.ndarray, p: np.ndarray, *, n: int = 500, seed: int = 0) -> tuple[float, float, float] | None:
    """ROC-AUC with a 95 % percentile bootstrap interval (resampling rows); None with one class."""
    if len(y) == 0 or y.min() == y.max():
        return None
    low, high = paired_bootstrap(lambda idx: rank_auc(y[idx], p[idx]), len(y), n=n, seed=seed)
    return float(roc_auc_score(y, p)), low, high


@dataclass(frozen=True)
class PairedDifference:
    """ROC-AUC of model b minus model a on the same rows, with a 95 % paired bootstrap interval."""

    point: float
    low: float
    high: float

    @property
    def separates(self) -> bool:
        return self.low > 0 or self.high < 0


def paired_auc_difference(y: np.ndarray, a: np.ndarray, b: np.ndarray, *, n: int = 1000, seed: int = 0) -> PairedDifference | None:
    """AUC(b) - AUC(a), resampling rows once for both models so their shared noise cancels; None with one class."""
    if len(y) == 0 or y.min() == y.max():
        return None

    def difference(idx: np.ndarray) -> float | None:
        if y[idx].min() == y[idx].max():
            return None
        return float(rank_auc(y[idx], b[idx]) - rank_auc(y[idx], a[idx]))  # type: ignore[operator]

    low, high = paired_bootstrap(difference, len(y), n=n, seed=seed)
    return PairedDifference(float(roc_auc_score(y, b) - roc_auc_score(y, a)), low, high)


HATESONAR = "hatesonar 0.1.0 (P(hate); insult: P(hate)+P(offensive))"  # at most 60 characters: the report cuts names there


def hatesonar_session(model_path: Path):  # type: ignore[no-untyped-def]
    """hatesonar's ONNX pipeline with its StringNormalizer set to the C.UTF-8 locale.

    The shipped graph leaves the locale at onnxruntime's default, en_US.UTF-8, which most containers lack
    (../shared/MODELS.md); lower-casing ASCII comments does not depend on it.
    """
    import onnx
    import onnxruntime as ort

    graph = onnx.load(str(model_path))
    for node in graph.graph.node:
        if node.op_type == "StringNormalizer" and not any(a.name == "locale" for a in node.attribute):
            node.attribute.append(onnx.helper.make_attribute("locale", "C.UTF-8"))
    return ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])


def hatesonar_predict(session) -> Predict:  # type: ignore[no-untyped-def]
    def predict(rows: Sequence[LabelledComment], chunk: int = 1024) -> np.ndarray:
        out = np.full((len(rows), len(LABELS)), np.nan, dtype=np.float32)
        for start in range(0, len(rows), chunk):
            texts = np.array([r.body for r in rows[start : start + chunk]], dtype=object)
            _, probs = session.run(None, {"text": texts})  # one {0: hate, 1: offensive, 2: neither} map per text
            hate = np.array([p[0] for p in probs], dtype=np.float32)
            out[start : start + len(texts), 0] = hate
            out[start : start + len(texts), 1] = hate + np.array([p[1] for p in probs], dtype=np.float32)
        return out

    return predict


def peer_systems() -> list[System]:
    """Peer tools from ../shared/MODELS.md: run what runs offline here, say why the others do not."""
    peers = []
    try:
        from profanity_check import predict_prob  # alt-profanity-check ships its own linear model

        def offensive(rows: Sequence[LabelledComment]) -> np.ndarray:
            p = np.asarray(predict_prob([r.body for r in rows]), dtype=np.float32)
            return np.column_stack([p, p, np.full(len(rows), np.nan, dtype=np.float32)])

        peers.append(System("alt-profanity-check 1.9.1 (P(offensive) as hate and insult)", offensive))
    except ImportError:
        peers.append(System("alt-profanity-check", None, "not installed (pip install -e '.[peers]')"))
    try:
        from hatesonar.api import DEFAULT_MODEL_FILE

        peers.append(System(HATESONAR, hatesonar_predict(hatesonar_session(DEFAULT_MODEL_FILE))))
    except ImportError:
        peers.append(System("hatesonar 0.1.0", None, "not installed (pip install -e '.[peers]')"))
    peers.append(System("detoxify 0.5.4", None, "cannot run offline: downloads its checkpoint and tokenizer at load"))
    peers.append(System("Perspective API, OpenAI moderation", None, "cloud services: no network here"))
    return peers


def score_all(sets: Sequence[NamedSet], systems: Sequence[System]) -> list[Scored]:
    out = []
    for named in sets:
        scored = Scored(named.name, label_matrix(named.rows))
        for system in systems:
            if system.predict is not None:
                scored.probs[system.name] = system.predict(named.rows)
        out.append(scored)
    return out


def _fmt_auc(result: tuple[float, float, float] | None) -> str:
    return "n/a" if result is None else f"{result[0]:.3f} [{result[1]:.3f}, {result[2]:.3f}]"


def _plots(scored: Scored, main: str, folder: Path, stem: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for j, label in enumerate(LABELS):
        ax = axes[j]
        mask = ~np.isnan(scored.y[:, j])
        y = scored.y[mask, j]
        if not mask.any() or y.min() == y.max():
            ax.set_title(f"{label.value}: not annotated")
            ax.axis("off")
            continue
        for system, probs in scored.probs.items():
            p = probs[mask, j]
            if np.isnan(p).any():
                continue
            precision, recall, _ = precision_recall_curve(y, p)
            ax.plot(recall, precision, label=system[:40])
        ax.set_title(f"{label.value} (n={mask.sum()}, +{int(y.sum())})")
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
    axes[0].legend(fontsize=6)
    fig.suptitle(f"Precision-recall: {scored.name}")
    fig.tight_layout()
    names.append(f"{stem}-pr.png")
    fig.savefig(folder / names[-1], dpi=80)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    probs = scored.probs[main]
    for j, label in enumerate(LABELS):
        mask = ~np.isnan(scored.y[:, j])
        if not mask.any():
            continue
        y, p = scored.y[mask, j], probs[mask, j]
        edges = np.linspace(0, 1, 11)
        which = np.clip(np.digitize(p, edges[1:-1]), 0, 9)
        xs = [p[which == b].mean() for b in range(10) if (which == b).any()]
        ys = [y[which == b].mean() for b in range(10) if (which == b).any()]
        axes[0].plot(xs, ys, marker="o", label=f"{label.value} (ECE {expected_calibration_error(p, y):.3f})")
        axes[1].hist(p[y == 1], bins=20, range=(0, 1), alpha=0.5, label=f"{label.value} +")
    axes[0].plot([0, 1], [0, 1], "k--", linewidth=0.8)
    axes[0].set_xlabel("mean score in bin")
    axes[0].set_ylabel("fraction positive")
    axes[0].set_title(f"Reliability: {main[:40]}")
    axes[0].legend(fontsize=7)
    negatives = np.all(np.nan_to_num(scored.y, nan=0) == 0, axis=1)
    axes[1].hist(probs[negatives].max(axis=1), bins=20, range=(0, 1), alpha=0.5, label="no label (max score)")
    axes[1].set_title("Score histogram")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    names.append(f"{stem}-calibration.png")
    fig.savefig(folder / names[-1], dpi=80)
    plt.close(fig)
    return names


def calibration_line(scored: Scored, main: str) -> str:
    """Expected calibration error of the main system on this test set, per annotated label: out of sample, unlike the
    validation ECE that calibration minimised (the header's figures)."""
    cells = []
    for j, label in enumerate(LABELS):
        mask = ~np.isnan(scored.y[:, j])
        if mask.any():
            y = scored.y[mask, j]
            cells.append(f"{label.value} {expected_calibration_error(scored.probs[main][mask, j], y):.3f} (n={int(mask.sum())}, +{int(y.sum())})")
    return f"Expected calibration error of {main} on this test set (10 bins): " + "; ".join(cells) + "."


def hatecheck_tables(named: NamedSet, probs: np.ndarray, cases: dict[str, tuple[str, str]], review: float | None = None,
                     held: np.ndarray | None = None) -> list[str]:
    """Accuracy per functionality and per target group at the calibrated 0.5 cut-off and, when given, at the hate
    review threshold: 0.5 is issue 7's yardstick, the review threshold is what sends a comment to a moderator.

    `held` (one bool per row): whether the service holds the case for a moderator on any label. It is a share, not an
    accuracy: a hateful case held as an insult still reaches a moderator, and HateCheck's abuse of individuals and
    objects (target_indiv_nh, target_obj_nh) is non-hateful there but an insult by threadguard's guide."""
    cuts = [0.5] + ([review] if review is not None else [])
    correct: dict[str, list[list[float]]] = defaultdict(list)
    by_target: dict[str, list[list[float]]] = defaultdict(list)
    holds = held if held is not None else np.zeros(len(named.rows), dtype=bool)
    for row, p, is_held in zip(named.rows, probs[:, 0], holds, strict=True):
        functionality, target = cases.get(row.id, ("unknown", "none"))
        cells = [float((p >= cut) == bool(row.hate)) for cut in cuts] + ([float(is_held)] if held is not None else [])
        correct[functionality].append(cells)
        by_target[target].append(cells)
    overall = np.mean([cells for group in correct.values() for cells in group], axis=0)
    summary = f"Overall accuracy at 0.5: **{overall[0]:.3f}** on {len(named.rows)} cases."
    head = "| accuracy at 0.5 |"
    if review is not None:
        summary += (f" At the hate review threshold {review:.3f} (chosen on validation, like every threshold): **{overall[1]:.3f}**, "
                    "the share of hateful cases that reach review and of non-hateful ones that stay out of it.")
        head += " at review |"
    if held is not None:
        hateful = np.array([bool(row.hate) for row in named.rows])
        summary += (" Held for a moderator as the service decides (review or reject on any label): "
                    f"{held[hateful].mean():.3f} of the hateful cases and {held[~hateful].mean():.3f} of the others. The last "
                    "column is a share held, not an accuracy: abuse of an individual is an insult by threadguard's guide.")
        head += " held (any label) |"
    columns = len(cuts) + (held is not None)

    def table(first: str, groups: dict[str, list[list[float]]]) -> list[str]:
        rows = [f"| {first} | n {head}", "|---|---" + "|---" * columns + "|"]
        for name, group in sorted(groups.items()):
            rows.append(f"| {name} | {len(group)} | " + " | ".join(f"{a:.3f}" for a in np.mean(group, axis=0)) + " |")
        return rows

    return [summary, "", *table("functionality", correct), "", *table("target group", by_target)]


def write_report(
    path: Path, sets: Sequence[NamedSet], systems: Sequence[System], *, main: str, hatecheck: dict[str, tuple[str, str]] | None, header: Sequence[str] = (),
    bias_fprs: Sequence[GroupFPR] | None = None, hate_review: float | None = None, held: Held | None = None,
) -> None:
    """Write the markdown report and its PNGs (in <report stem>_files/ beside it)."""
    folder = path.parent / f"{path.stem}_files"
    folder.mkdir(parents=True, exist_ok=True)
    written: set[str] = set()
    scored_sets = score_all(sets, systems)
    lines = ["# Evaluation report", "", *header, "", "## Systems", ""]
    for system in systems:
        lines.append(f"- **{system.name}**" + (f": {system.note}" if system.note else ""))
    lines += ["", "ROC-AUC with a 95 % bootstrap interval (500 resamples of rows); every system scored on the same rows.", ""]
    for scored, named in zip(scored_sets, sets, strict=True):
        in_domain = {s.name for s in systems if named.held_out is not None and named.held_out in s.trained_on}
        lines += [f"## {scored.name} ({len(named.rows)} rows)", "", "| system | " + " | ".join(l.value for l in LABELS) + " |", "|---|---|---|---|"]
        for system, probs in scored.probs.items():
            cells = []
            for j in range(len(LABELS)):
                mask = ~np.isnan(scored.y[:, j])
                if not mask.any() or np.isnan(probs[mask, j]).any():
                    cells.append("–")
                    continue
                cells.append(_fmt_auc(bootstrap_auc(scored.y[mask, j].astype(int), probs[mask, j])))
            lines.append(f"| {system[:60]}{TRAINED_MARK if system in in_domain else ''} | " + " | ".join(cells) + " |")
        if in_domain:
            lines += ["", (f"{TRAINED_MARK.strip()} trained on {named.held_out}'s training split, which {main} never saw: its row here is "
                           "an in-domain score, not a cross-domain one.")]
        lines += ["", calibration_line(scored, main)]
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", scored.name).strip("-")  # "kaggle_insults/test (held out)" -> a link-safe name
        for image in _plots(scored, main, folder, stem):
            written.add(image)
            lines += ["", f"![{image}]({folder.name}/{image})"]
        if hatecheck is not None and scored.name.startswith("hatecheck"):
            held_rows = held(named.rows, scored.probs[main]) if held is not None else None
            tables = hatecheck_tables(named, scored.probs[main], hatecheck, hate_review, held_rows)
            lines += ["", f"### HateCheck, {main}", "", *tables]
        lines.append("")
    if bias_fprs is not None:
        fprs, aucs = bias_fprs, subgroup_aucs(sets, [scored.probs[main] for scored in scored_sets])  # the main system's scores, computed above
        (folder / "bias.png").unlink(missing_ok=True)  # bias_plot writes nothing when no group has enough mentions
        bias_plot(aucs, folder / "bias.png")
        lines += [f"## Unintended bias, {main}", "",
                  ("False positives on the functional suite's neutral and positive mentions of each group (at the calibrated 0.5 cut-off, and "
                   "sent to a moderator at the served review thresholds), then, on every test set with hate labels, the Jigsaw subgroup / BPSN / BNSP AUCs for hate (groups with at least 10 mentions; see training/bias.py)."), "",
                  *bias_tables(fprs, aucs), ""]
        if (folder / "bias.png").exists():
            written.add("bias.png")
            lines += ["![bias](" + f"{folder.name}/bias.png)", ""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # Plots of test sets a previous report had and this one has not go last, once the new page is written: a report
    # that fails halfway leaves the old page with every image it links to.
    for stale in folder.glob("*.png"):
        if stale.name not in written:
            stale.unlink()
    log.info("wrote %s and %d plots", path, len(list(folder.glob("*.png"))))
