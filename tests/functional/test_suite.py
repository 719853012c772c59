"""The team's functional suite: enough cases over every functionality, correct tallies, `threadguard check` on a tiny
model, the model card carrying the pass rates, and normalisation helping the obfuscated cases."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from labels.schema import LABELS
from threadguard.settings import PROJECT_ROOT
from training.functional import OBFUSCATIONS, SUITE, Case, load_suite, overall, run_suite, summary, table

REQUIRED = {"dehumanisation", "slur", "expressed_hatred", "hateful_generalisation", "hateful_question", "threat_to_group", "hostility_to_unprotected", "hate_vs_neutral_mention", "positive_mention", "negated_hate", "counter_speech", "profanity_no_target",
            "insult_at_commenter", "insult_at_public_figure", "insult_at_unprotected_group", "criticism_of_commenter", "criticism_of_policy", "off_topic_spam", "off_topic_spam_copying_article", "off_topic_short_pitch",
            "on_topic_buy_or_sell_advice", "on_topic_low_overlap"}


def test_the_suite_has_300_cases_over_every_functionality() -> None:
    cases = load_suite(SUITE)
    counts = Counter(c.functionality for c in cases)
    assert len(cases) >= 300
    assert REQUIRED <= set(counts)
    assert {f"obfuscation:{kind}" for kind in OBFUSCATIONS} <= set(counts) and {f"obfuscated_hate:{kind}" for kind in OBFUSCATIONS} <= set(counts)
    assert all(c.article_text for c in cases if c.functionality.startswith(("off_topic", "on_topic")))
    zero_width = next(c for c in cases if c.functionality == "obfuscation:zero_width")
    assert "\u200b" in zero_width.body and "[" not in zero_width.body
    swapped = {c.body for c in cases if c.functionality == "obfuscation:swapped_letters"}
    dropped = {c.body for c in cases if c.functionality == "obfuscation:dropped_letter"}
    assert "Shut up, you pathetic mroon." in swapped and "Shut up, you pathetic morn." in dropped
    assert len({c.body for c in cases}) > 0.9 * len(cases)  # templates expand into distinct texts


def test_every_group_has_twenty_neutral_or_positive_mentions() -> None:
    """The bias report's false positive rate per group rests on these cases: 20 of them give it steps of 0.05,
    fine enough to check the 0.10 target (7 per group could only say 0 or 0.14)."""
    from training.bias import GROUPS, mentions

    cases = [c for c in load_suite(SUITE) if c.functionality in ("hate_vs_neutral_mention", "positive_mention")]
    per_group = Counter(group for c in cases for group in mentions(c.body))
    assert {group: per_group[group] for group in GROUPS if per_group[group] < 20} == {}


def test_tallies_split_positives_and_negatives() -> None:
    cases = [Case("f", "a", {"hate": 1}), Case("f", "b", {"hate": 1}), Case("g", "c", {"hate": 0, "insult": 0})]
    probs = np.array([[0.9, 0, 0], [0.2, 0, 0], [0.7, 0.1, 0]])  # LABELS order: hate, insult, off_topic
    assert [label.value for label in LABELS] == ["hate", "insult", "off_topic"]
    f, g = run_suite(lambda _cases: probs, cases)
    assert (f.positives, f.positive_pass, f.negatives, f.negative_pass) == (2, 0.5, 0, None)
    assert (g.positives, g.positive_pass, g.negatives, g.negative_pass) == (0, None, 2, 0.5)
    assert overall([f, g]) == 0.5
    assert f.positive_review is None and "positive_review" not in summary([f, g])["functionalities"][0]  # no thresholds given


def test_at_review_thresholds_a_positive_is_held_and_a_negative_left_alone_under_them() -> None:
    cases = [Case("f", "a", {"hate": 1}), Case("f", "b", {"hate": 1}), Case("g", "c", {"hate": 0, "insult": 0}), Case("g", "d", {"hate": 0})]
    probs = np.array([[0.9, 0, 0], [0.2, 0, 0], [0.3, 0.1, 0], [0.1, 0.9, 0]])  # LABELS order: hate, insult, off_topic
    f, g = run_suite(lambda _cases: probs, cases, review={"hate": 0.25, "insult": 0.05, "off_topic": 0.5})
    assert (f.positive_pass, f.positive_review) == (0.5, 0.5)  # 0.2 is under both 0.5 and the review threshold 0.25
    # c: hate 0.3 and insult 0.1 pass at 0.5 but both reach review; d: hate 0.1 stays under review (its insult is not checked)
    assert (g.negatives, g.negative_pass, g.negative_review) == (3, 1.0, 1 / 3)
    rows = summary([f, g])["functionalities"]
    assert (rows[1]["negative_pass"], rows[1]["negative_review"]) == (1.0, 1 / 3)
    lines = table([f, g])
    assert lines[0].endswith("| held at review (expects label) | left alone at review (expects none) |")
    assert lines[3] == "| g | 2 | – | 1.00 (3) | 1.00 | – | 0.33 (3) |"
    assert all(line.count("|") == lines[0].count("|") for line in lines)  # every row as wide as the header


@pytest.mark.slow  # a CLI process over the whole suite, about 5 s; test_normalisation_helps_the_obfuscated_cases scores the suite in the edit loop
def test_check_command_prints_pass_rates_and_the_card_carries_them(tiny_model_dir: Path) -> None:
    result = subprocess.run([sys.executable, "-c", "from threadguard.cli import run; run()", "check", str(tiny_model_dir), "--json"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert {r["name"] for r in report["functionalities"]} >= REQUIRED and 0 <= report["overall"] <= 1
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    # Training ran the suite before export, and the card and the CLI report it in the same shape.
    assert metrics["functional"] == {k: v for k, v in report.items() if k not in ("model", "normalise", "repair_spelling")}
    card = (tiny_model_dir / "MODEL_CARD.md").read_text()
    assert "## Functional suite" in card and "| held at review | left alone at review |" in card
    assert all("positive_review" in r and "negative_review" in r for r in report["functionalities"])
    table = subprocess.run([sys.executable, "-c", "from threadguard.cli import run; run()", "check", str(tiny_model_dir)], cwd=PROJECT_ROOT,
                           capture_output=True, text=True, check=False, timeout=120).stdout
    assert "| functionality | cases |" in table and "| obfuscation:leet |" in table and "**overall**" in table


def test_normalisation_helps_the_obfuscated_cases(tiny_scorer) -> None:  # type: ignore[no-untyped-def]
    from serving.model import Scorer

    cases = [c for c in load_suite(SUITE) if ":" in c.functionality]
    plain = Scorer(tiny_scorer.model_dir, tiny_scorer.backend, "cpu", normalise=False)
    fixed = Scorer(tiny_scorer.model_dir, tiny_scorer.backend, "cpu", normalise=True)
    clean = [Case(c.functionality, c.body, c.expect) for c in load_suite(SUITE) if c.functionality == "insult_at_commenter"]
    before, after = overall(run_suite(plain.predict_proba, cases)), overall(run_suite(fixed.predict_proba, cases))
    assert after > before
    # On clean text normalisation changes nothing.
    assert np.allclose(plain.predict_proba(clean), fixed.predict_proba(clean))
