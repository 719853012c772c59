"""Inter-annotator agreement: Cohen's kappa and raw agreement per label, disagreements, adjudication."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from sklearn.metrics import cohen_kappa_score

from labels.schema import KNOWN_GUIDE_VERSIONS, LABELS, Label
from threadguard.errors import DataError


class LabelDecision(BaseModel):
    """One annotator's judgement of one comment (a row of a labelling pass)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    hate: int = Field(ge=0, le=1)
    insult: int = Field(ge=0, le=1)
    off_topic: int = Field(ge=0, le=1)
    rationale: str = Field(min_length=3)
    labeller: str = Field(min_length=1)
    guide_version: str

    def label(self, label: Label) -> int:
        return getattr(self, label.value)


@dataclass(frozen=True)
class LabelAgreement:
    """Agreement on one label over the comments both passes labelled."""

    label: Label
    n: int
    raw: float
    kappa: float | None  # None when both passes used one class only (kappa undefined)


@dataclass(frozen=True)
class Disagreement:
    id: str
    label: Label
    first: int
    second: int
    first_rationale: str
    second_rationale: str


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Cohen's kappa of two binary label sequences; None when undefined (a single class in both)."""
    if len(a) != len(b) or not a:
        raise DataError(f"kappa needs two equal non-empty sequences, got {len(a)} and {len(b)}")
    if len(set(a) | set(b)) < 2:
        return None
    return float(cohen_kappa_score(list(a), list(b)))


def compare(first: Sequence[LabelDecision], second: Sequence[LabelDecision]) -> tuple[list[LabelAgreement], list[Disagreement]]:
    """Agreement per label over comments in both passes, and every disagreement."""
    for row in [*first, *second]:
        if row.guide_version not in KNOWN_GUIDE_VERSIONS:
            raise DataError(f"row {row.id}: unknown guide version {row.guide_version!r}")
    a = {r.id: r for r in first}
    b = {r.id: r for r in second}
    shared = sorted(set(a) & set(b))
    if not shared:
        raise DataError("the two passes have no comment in common")
    agreements, disagreements = [], []
    for label in LABELS:
        xs = [a[i].label(label) for i in shared]
        ys = [b[i].label(label) for i in shared]
        raw = sum(x == y for x, y in zip(xs, ys, strict=True)) / len(shared)
        agreements.append(LabelAgreement(label=label, n=len(shared), raw=raw, kappa=cohen_kappa(xs, ys)))
        disagreements += [
            Disagreement(i, label, a[i].label(label), b[i].label(label), a[i].rationale, b[i].rationale)
            for i in shared
            if a[i].label(label) != b[i].label(label)
        ]
    return agreements, disagreements


def adjudicate(first: Sequence[LabelDecision], second: Sequence[LabelDecision], rulings: Sequence[LabelDecision]) -> list[LabelDecision]:
    """One row per comment: agreed rows as they are, disagreements from `rulings`; unresolved ones are an error."""
    a = {r.id: r for r in first}
    b = {r.id: r for r in second}
    ruled = {r.id: r for r in rulings}
    out: list[LabelDecision] = []
    missing: list[str] = []
    for ident, row in a.items():
        other = b.get(ident)
        if other is None or all(row.label(l) == other.label(l) for l in LABELS):
            out.append(row)
        elif ident in ruled:
            out.append(ruled[ident])
        else:
            missing.append(ident)
    out += [row for ident, row in b.items() if ident not in a]
    if missing:
        raise DataError(f"{len(missing)} disagreements have no adjudication: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    return out
