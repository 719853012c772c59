"""The team's functional test suite (tests/functional/suite.toml): expand templates into cases, score them, report
pass rates per functionality, positives and negatives apart, at the calibrated 0.5 cut-off.

Obfuscated cases are written from a clean template by rewriting its [bracketed] word seven ways: leet speak,
inserted spaces, inserted punctuation, Unicode look-alikes, zero-width characters, two inner letters swapped and
one inner letter dropped (the misspellings that dodge a word list); each way is reported as its own functionality
(`obfuscation:leet`, ...), so a fix for one does not hide a failure of another.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labels.schema import LABELS
from threadguard.errors import UsageError
from threadguard.settings import PROJECT_ROOT

SUITE = PROJECT_ROOT / "tests" / "functional" / "suite.toml"
CUT = 0.5
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_MARKED = re.compile(r"\[([^\]]+)\]")

LEET = {"a": "@", "e": "3", "i": "1", "o": "0", "s": "$", "t": "7"}
LOOKALIKE = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "c": "\u0441", "p": "\u0440", "i": "\u0456", "x": "\u0445", "y": "\u0443"}


def _leet(word: str) -> str:
    return "".join(LEET.get(ch, ch) for ch in word)


def _lookalike(word: str) -> str:
    return "".join(LOOKALIKE.get(ch, ch) for ch in word)


def _swap_inner(word: str) -> str:
    """The two letters after the first swapped: "idiot" -> "iidot", "vermin" -> "vremin"."""
    return word[0] + word[2] + word[1] + word[3:] if len(word) >= 4 else word


def _drop_inner(word: str) -> str:
    """The second-to-last letter dropped: "idiot" -> "idit", "faggots" -> "faggos"."""
    return word[:-2] + word[-1] if len(word) >= 4 else word


OBFUSCATIONS: dict[str, Callable[[str], str]] = {
    "leet": _leet,
    "spaces": lambda w: " ".join(w),
    "punctuation": lambda w: ".".join(w),
    "lookalike": _lookalike,
    "zero_width": lambda w: "\u200b".join(w),
    "swapped_letters": _swap_inner,
    "dropped_letter": _drop_inner,
}


@dataclass(frozen=True)
class Case:
    functionality: str
    body: str
    expect: dict[str, int]
    article_text: str | None = None
    parent_body: str | None = None
    article_title: str | None = None


def _fill(template: str, values: dict[str, list[str]]) -> list[str]:
    names = list(dict.fromkeys(_PLACEHOLDER.findall(template)))
    missing = [n for n in names if n not in values]
    if missing:
        raise UsageError(f"suite template {template!r} uses undefined placeholders {missing}")
    return [template.format(**dict(zip(names, combo, strict=True))) for combo in itertools.product(*(values[n] for n in names))]


def load_suite(path: Path = SUITE) -> list[Case]:
    """Every case of the suite, in file order."""
    try:
        suite = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the functional suite ({exc})") from exc
    placeholders: dict[str, list[str]] = suite.get("placeholders", {})
    articles: dict[str, str] = suite.get("articles", {})
    cases: list[Case] = []
    for spec in suite.get("functionality", []):
        name, expect = spec["name"], dict(spec["expect"])
        if set(expect) - {label.value for label in LABELS}:
            raise UsageError(f"{path}: functionality {name} expects unknown labels {sorted(expect)}")
        values = placeholders | spec.get("fill", {})
        for explicit in spec.get("cases", []):
            cases.append(Case(name, explicit["text"], expect, article_text=articles[explicit["article"]] if "article" in explicit else None))
        for template in spec.get("templates", []):
            for text in _fill(template, values):
                for article in spec.get("article", [None]):
                    context = articles[article] if article else None
                    if spec.get("obfuscate"):
                        for kind, rewrite in OBFUSCATIONS.items():
                            cases.append(Case(f"{name}:{kind}", _MARKED.sub(lambda m, f=rewrite: f(m.group(1)), text), expect, article_text=context))
                    else:
                        cases.append(Case(name, _MARKED.sub(lambda m: m.group(1), text), expect, article_text=context))
    return cases


@dataclass(frozen=True)
class FunctionalityResult:
    functionality: str
    n: int
    positives: int
    positive_pass: float | None  # share of cases expecting a label that scored it at or over the cut-off
    negatives: int
    negative_pass: float | None  # share of cases expecting no label that scored it under the cut-off
    # The same at each label's review threshold, where given: what a moderator sees. A positive reaching it is held for
    # review; a negative under it is left alone (a false flag there is a review a moderator reads for nothing).
    positive_review: float | None = None
    negative_review: float | None = None

    @property
    def pass_rate(self) -> float:
        parts = [(self.positive_pass, self.positives), (self.negative_pass, self.negatives)]
        return sum((rate or 0.0) * count for rate, count in parts) / max(1, self.positives + self.negatives)


def run_suite(predict: Callable[[Sequence[Case]], np.ndarray], cases: Sequence[Case], *,
              review: Mapping[str, float] | None = None) -> list[FunctionalityResult]:
    """Score the cases ((n, 3) probabilities in LABELS order) and tally each functionality at the 0.5 cut-off, and at
    `review` (each label's review threshold) where given."""
    probs = predict(cases)
    column = {label.value: j for j, label in enumerate(LABELS)}
    tallies: dict[str, list[list[bool]]] = {}
    at_review: dict[str, list[list[bool]]] = {}
    for case, row in zip(cases, probs, strict=True):
        pos_neg = tallies.setdefault(case.functionality, [[], []])
        held = at_review.setdefault(case.functionality, [[], []])
        for label, want in case.expect.items():
            hit = bool(row[column[label]] >= CUT)
            (pos_neg[0] if want else pos_neg[1]).append(hit if want else not hit)
            if review is not None:
                flagged = bool(row[column[label]] >= review[label])
                (held[0] if want else held[1]).append(flagged if want else not flagged)
    results = []
    for name, (pos, neg) in tallies.items():
        n = sum(1 for c in cases if c.functionality == name)
        pos_review, neg_review = at_review[name]
        results.append(FunctionalityResult(name, n, len(pos), _share(pos), len(neg), _share(neg), _share(pos_review), _share(neg_review)))
    return results


def _share(passed: list[bool]) -> float | None:
    return float(np.mean(passed)) if passed else None


def overall(results: Sequence[FunctionalityResult]) -> float:
    """Pass rate over every checked label of every case."""
    checks = sum(r.positives + r.negatives for r in results)
    return sum(r.pass_rate * (r.positives + r.negatives) for r in results) / max(1, checks)


def obfuscation_rate(results: Sequence[FunctionalityResult]) -> float | None:
    picked = [r for r in results if ":" in r.functionality]
    return overall(picked) if picked else None


def summary(results: Sequence[FunctionalityResult]) -> dict:
    """The suite's pass rates as JSON: what the model card's metrics.json records and `threadguard check --json` prints."""
    return {"overall": overall(results), "obfuscation": obfuscation_rate(results),
            "functionalities": [{"name": r.functionality, "n": r.n, "positives": r.positives, "positive_pass": r.positive_pass,
                                 "negatives": r.negatives, "negative_pass": r.negative_pass}
                                | ({"positive_review": r.positive_review, "negative_review": r.negative_review} if _reviewed(results) else {})
                                for r in results]}


def _reviewed(results: Sequence[FunctionalityResult]) -> bool:
    """Whether the suite was also tallied at review thresholds."""
    return any(r.positive_review is not None or r.negative_review is not None for r in results)


def rate_cell(rate: float | None, count: int) -> str:
    """A pass rate with the cases behind it, as the suite's tables print it ("–" where no case asks)."""
    return "–" if rate is None else f"{rate:.2f} ({count})"


def table(results: Sequence[FunctionalityResult]) -> list[str]:
    """Markdown rows: functionality, cases, pass rate on positives and on negatives."""
    reviewed = _reviewed(results)
    extra = " held at review (expects label) | left alone at review (expects none) |" if reviewed else ""
    lines = ["| functionality | cases | pass (expects label) | pass (expects none) | pass |" + extra, "|---|---|---|---|---|" + ("---|---|" if reviewed else "")]
    for r in results:
        at_review = f" {rate_cell(r.positive_review, r.positives)} | {rate_cell(r.negative_review, r.negatives)} |" if reviewed else ""
        lines.append(f"| {r.functionality} | {r.n} | {rate_cell(r.positive_pass, r.positives)} | {rate_cell(r.negative_pass, r.negatives)} | {r.pass_rate:.2f} |" + at_review)
    rate = obfuscation_rate(results)
    blanks = " | |" if reviewed else ""
    lines.append(f"| **overall** | {sum(r.n for r in results)} | | | **{overall(results):.2f}** |" + blanks)
    if rate is not None:
        lines.append(f"| obfuscation (all kinds) | {sum(r.n for r in results if ':' in r.functionality)} | | | {rate:.2f} |" + blanks)
    return lines
