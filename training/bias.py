"""Unintended-bias report: how the model treats comments that mention identity groups.

For each group (terms matched as whole words, case-insensitive):
- the false positive rate on neutral and positive mentions, from the functional suite's `hate_vs_neutral_mention`
  and `positive_mention` cases about that group (none of them is hateful or insulting), at the calibrated 0.5 cut-off;
- on every test split with hate labels where the group is mentioned, the Jigsaw unintended-bias AUCs
  (Borkan et al. 2019): subgroup AUC (only comments mentioning the group), BPSN AUC (background positives and
  subgroup negatives: low means neutral mentions score like real hate) and BNSP AUC (background negatives and
  subgroup positives: low means hate against the group scores like clean text).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from labels.schema import LABELS, Label
from training.data import NamedSet
from training.functional import CUT, Case

GROUPS: dict[str, tuple[str, ...]] = {
    "Black": ("black", "blacks", "african american", "african americans"),
    "white": ("white people", "whites", "white man", "white men", "white woman", "white women", "white guy"),
    "Asian": ("asian", "asians", "asian american", "chinese people"),
    "Latino": ("latino", "latinos", "latina", "latinas", "hispanic", "hispanics", "mexicans"),
    "Jewish": ("jew", "jews", "jewish"),
    "Muslim": ("muslim", "muslims", "islam", "islamic"),
    "Christian": ("christian", "christians"),
    "gay": ("gay", "gays", "homosexual", "homosexuals"),
    "lesbian": ("lesbian", "lesbians"),
    "trans": ("trans", "transgender", "transgenders"),
    "women": ("woman", "women", "girls"),
    "men": ("man", "men"),
    "disabled": ("disabled", "disability", "disabilities", "wheelchair"),
    "immigrants": ("immigrant", "immigrants", "migrant", "migrants", "refugee", "refugees"),
}
MIN_SUBGROUP = 10  # AUCs on fewer subgroup comments (or without both classes) are not reported
_PATTERNS = {group: re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\b", re.IGNORECASE) for group, terms in GROUPS.items()}


def mentions(text: str) -> set[str]:
    return {group for group, pattern in _PATTERNS.items() if pattern.search(text)}


@dataclass(frozen=True)
class GroupFPR:
    group: str
    cases: int
    false_positive_rate: float  # share of neutral/positive mentions scored hate or insult at >= 0.5
    # the same at the model's hate and insult review thresholds, where given: mentions a moderator is sent
    review_rate: float | None = None


@dataclass(frozen=True)
class GroupAUC:
    test_set: str
    group: str
    subgroup_n: int
    subgroup_positives: int
    subgroup_auc: float | None
    bpsn_auc: float | None
    bnsp_auc: float | None


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(roc_auc_score(y, p)) if len(y) and 0 < y.sum() < len(y) else None


def neutral_fpr(predict: Callable[[Sequence[Case]], np.ndarray], cases: Sequence[Case], *,
                review: Mapping[str, float] | None = None) -> list[GroupFPR]:
    """False positives (hate or insult at the cut-off, and at `review`, each label's review threshold, where given) on
    the suite's neutral and positive mentions, per group."""
    picked = [c for c in cases if c.functionality in ("hate_vs_neutral_mention", "positive_mention")]
    probs = predict(picked) if picked else np.zeros((0, 3))
    flagged = (probs[:, :2] >= CUT).any(axis=1) if len(picked) else np.zeros(0, dtype=bool)
    held = (probs[:, :2] >= np.array([review["hate"], review["insult"]])).any(axis=1) if review is not None and len(picked) else None
    out = []
    for group in GROUPS:
        idx = [i for i, c in enumerate(picked) if group in mentions(c.body)]
        if idx:
            out.append(GroupFPR(group, len(idx), float(flagged[idx].mean()), float(held[idx].mean()) if held is not None else None))
    return out


def subgroup_aucs(sets: Sequence[NamedSet], probs: Sequence[np.ndarray], label: Label = Label.hate) -> list[GroupAUC]:
    """Subgroup, BPSN and BNSP AUC per group on every test set that annotates `label`.

    `probs[i]` holds the (n, 3) scores of `sets[i].rows`, as the report and the benchmark have already computed them.
    """
    out = []
    column = [l.value for l in LABELS].index(label.value)
    for named, set_probs in zip(sets, probs, strict=True):
        keep = [i for i, r in enumerate(named.rows) if r.label(label) is not None]
        if not keep:
            continue
        rows = [named.rows[i] for i in keep]
        y = np.array([r.label(label) for r in rows])
        p = np.asarray(set_probs)[keep, column]
        groups = [mentions(r.body) for r in rows]
        for group in GROUPS:
            inside = np.array([group in g for g in groups])
            if inside.sum() < MIN_SUBGROUP:
                continue
            sub_y, sub_p, back_y, back_p = y[inside], p[inside], y[~inside], p[~inside]
            bpsn = np.concatenate([back_y[back_y == 1], sub_y[sub_y == 0]]), np.concatenate([back_p[back_y == 1], sub_p[sub_y == 0]])
            bnsp = np.concatenate([back_y[back_y == 0], sub_y[sub_y == 1]]), np.concatenate([back_p[back_y == 0], sub_p[sub_y == 1]])
            out.append(GroupAUC(named.name, group, int(inside.sum()), int(sub_y.sum()), _auc(sub_y, sub_p), _auc(*bpsn), _auc(*bnsp)))
    return out


def bias_tables(fprs: Sequence[GroupFPR], aucs: Sequence[GroupAUC]) -> list[str]:
    def fmt(v: float | None, digits: int = 3) -> str:
        return "–" if v is None else f"{v:.{digits}f}"

    reviewed = any(f.review_rate is not None for f in fprs)
    lines = ["| group | neutral/positive mentions | false positive rate (hate or insult ≥ 0.5) |" + (" sent to review (hate or insult at its review threshold) |" if reviewed else ""),
             "|---|---|---|" + ("---|" if reviewed else "")]
    lines += [f"| {f.group} | {f.cases} | {f.false_positive_rate:.2f} |" + (f" {fmt(f.review_rate, 2)} |" if reviewed else "") for f in fprs]
    lines += ["", "| test set | group | comments mentioning it | hateful | subgroup AUC | BPSN AUC | BNSP AUC |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {a.test_set} | {a.group} | {a.subgroup_n} | {a.subgroup_positives} | {fmt(a.subgroup_auc)} | {fmt(a.bpsn_auc)} | {fmt(a.bnsp_auc)} |"
              for a in aucs]
    return lines


def bias_plot(aucs: Sequence[GroupAUC], path) -> None:  # type: ignore[no-untyped-def]
    """Per group, the lowest subgroup, BPSN and BNSP AUC over the test sets (the worst gap is what a moderator meets)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({a.group for a in aucs})
    if not groups:
        return
    worst = {g: [min((getattr(a, m) for a in aucs if a.group == g and getattr(a, m) is not None), default=np.nan)
                 for m in ("subgroup_auc", "bpsn_auc", "bnsp_auc")] for g in groups}
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(groups))
    for k, name in enumerate(("subgroup AUC", "BPSN AUC", "BNSP AUC")):
        ax.bar(x + (k - 1) * 0.27, [worst[g][k] for g in groups], width=0.27, label=name)
    ax.set_xticks(x, groups, rotation=30, ha="right")
    ax.set_ylim(0.4, 1.0)
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.set_ylabel("lowest over test sets")
    ax.set_title("hate: unintended bias per identity group")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
