"""Render MODEL_CARD.md from config, data records, thresholds and metrics (never written by hand)."""

from __future__ import annotations

from labels.schema import LABELS
from threadguard.artifact import LabelThresholds, Metrics, ModelConfig
from training.functional import rate_cell


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _fine_tuning_lines(config: ModelConfig) -> list[str]:
    """Where and in what precision the encoder was fine-tuned (a bf16 or fp16 run differs from a float32 one by a little). A
    recalibrated or refit dir keeps its source's encoder, and so its source's record; dirs trained before it was kept have none."""
    ran = config.backend.get("fine_tuned_on")
    if not ran:
        return []
    lines = [f"- Fine-tuned on {ran['device']} in {ran['precision']} (transformer.mixed_precision), {config.backend.get('steps')} steps, "
             f"best validation score {config.backend.get('best_valid_mean_auc')}."]
    if sources := config.backend.get("source_bias"):
        learned = "; ".join(f"{name} {' / '.join(f'{b:+.2f}' for b in biases)}" for name, biases in sources["biases"].items())
        # A run from before source_bias_labels biased every label.
        biased = sources.get("labels", [label.value for label in LABELS])
        unbiased = [label.value for label in LABELS if label.value not in biased]
        lines.append(f"- A bias per training source and label in training (transformer.source_bias; hate / insult / off_topic): {learned}. "
                     + (f"{' and '.join(unbiased)} had none (transformer.source_bias_labels). " if unbiased else "")
                     + (f"The heads carry {sources['folded']}'s." if sources["folded"] else "The heads carry none of them (no source "
                        "named in data.report_first trained)."))
    return lines


def _refit_lines(config: ModelConfig) -> list[str]:
    """Where the heads were refit over another dir's encoder: which, on what, and that the encoder's data is that dir's."""
    refit = config.backend.get("head_refit")
    if not refit:
        return []
    def offsets(fit: dict) -> str:
        learned = fit.get("source_offsets")
        if not learned:
            return ""
        return (", beside a logit offset per training source from the served one, fit with it and not served: "
                + ", ".join(f"{name} {value:+.2f}" for name, value in learned.items()))

    chosen = "; ".join(f"{f['label']}: pulled toward the head as it was at strength {f['pull']}{offsets(f)}" for f in refit["fits"])
    overrides = ", ".join(f"`{o}`" for o in refit["overrides"]) or "none"
    moved = " Only off_topic's weights on the parent (and its bias) moved; those on the article stayed." if refit.get("parent_only") else ""
    return ["## How it was made",
            (f"`threadguard refit-heads` over the encoder of `{refit['from']}` ({chosen}); config overrides: {overrides}.{moved} "
             f"The encoder, the tokenizer and every other head are `{refit['from']}`'s byte for byte, so the encoder was trained "
             "on the data its card lists; the data below is what the refit heads were fit on."), ""]


def _recalibrated_lines(config: ModelConfig) -> list[str]:
    """Where calibration, thresholds (and a spam head) were refit over another dir's encoder and heads."""
    recal = config.backend.get("recalibrated")
    if not recal:
        return []
    overrides = ", ".join(f"`{o}`" for o in recal["overrides"]) or "none"
    return ["## How it was made",
            (f"`threadguard calibrate` over `{recal['from']}` (config overrides: {overrides}): the encoder, the tokenizer and the hate, "
             f"insult and off_topic heads are `{recal['from']}`'s byte for byte; calibration and thresholds were fit anew, and a spam "
             "head where the config asks for one."
             + (f" `model.int8.onnx` was quantised anew from `{recal['from']}`'s `model.onnx` with the overridden int8 settings (Runtimes below)."
                if recal.get("int8_requantised") else "")
             + (f" `model.int8.onnx` is `{recal['from']}`'s with its epilogues fused (training/int8_fusion.py): the same int8 weights, "
                "rounded alike, in fewer passes over memory."
                if recal.get("int8_fused") else "")), ""]


def _soup_lines(config: ModelConfig) -> list[str]:
    """Where the encoder and heads are the mean of several runs' (training/soup.py)."""
    soup = config.backend.get("soup")
    if not soup:
        return []
    runs = ", ".join(f"`{name}` (seed {seed})" for name, seed in zip(soup["from"], soup["seeds"], strict=True))
    return ["## How it was made",
            (f"`threadguard soup` of {len(soup['from'])} runs: {runs}. The encoder and the hate, insult and off_topic heads are the "
             "element-wise mean of theirs; the spam head, calibration and thresholds were fit anew on the mean, and the ONNX graphs "
             "exported from it. Each run was trained on the sets its own card lists (their hashes are in config.json, "
             "`backend.soup.train_data`); the data below is the first run's config, as calibration and evaluation read it."), ""]


def _runtime_lines(config: ModelConfig) -> list[str]:
    """How a transformer dir's int8 file was made from its fp32 weights, for an operator who reads only the card."""
    int8 = config.backend.get("int8")
    if not int8:
        return []
    if int8.get("activations") == "per_token":
        scheme = ("weights int8 per output column, rounded by GPTQ on the calibration texts (training/gptq.py); activations uint8 with a scale "
                  "per token, so a comment scores the same alone and in any batch (training/token_int8.py); embedding tables int8 per row and column")
    else:
        scheme = (f"ONNX Runtime dynamic int8, weights per {'output column' if int8.get('per_channel') else 'tensor'}, activations with one "
                  "scale per batch (a comment's score can move with its batch-mates)")
    smoothing = (f"; activations smoothed into the weights at alpha {int8['smoothing_alpha']} (training/smoothing.py)"
                 if int8.get("smoothing_alpha") is not None else "")
    outliers = (f"; each projection input's {int8['outlier_channels']} largest channels kept in fp32 beside the int8 product"
                if int8.get("outlier_channels") else "")
    texts = f", calibrated on {int8['calibration_texts']} training texts" if int8.get("calibration_texts") else ""
    fused = "; smoothing and biases folded into the ops beside them (training/int8_fusion.py)" if int8.get("fused_epilogues") else ""
    steps = f"; {int8['consistency_steps']} int8-consistency fine-tuning steps" if int8.get("consistency_steps") else ""
    return ["## Runtimes",
            (f"`model.int8.onnx` (served on CPU): {scheme}{smoothing}{outliers}{fused}{texts}{steps}. Calibration and thresholds were fit on its scores. "
             "`model.onnx` and `hf/` hold the fp32 weights (ONNX Runtime fp32; PyTorch, fp16 on CUDA) where the dir carries them; "
             "the parity tests (tests/integration/test_transformer_model.py) check int8 against fp32 decisions on a fixed sample."), ""]


def _spam_head_lines(config: ModelConfig) -> list[str]:
    """What the spam head was fit on and how its strength was chosen, where the dir has one."""
    spam = config.backend.get("spam_head")
    if not spam:
        return []
    c = str(spam["C"])
    return ["## Spam head",
            (f"A logistic regression over the comment embedding (training/spam_head.py), fit on {spam['rows']['pitches']} synthetic pitches{' (bare ones of a few words among them)' if _bare_pitches(config) else ''} "
             f"against {spam['rows']['negatives']} training comments, C = {c}: it found {spam['held_out_offer_recall'][c]:.1%} of the pitches "
             f"whose offer was held out, and lifted {spam['validation_lifted'][c]:.2%} of {spam['rows']['validation']} validation comments "
             f"to {spam['lift_at']} (at most {spam['max_validation_lift']:.0%} allowed). {_spam_choice(spam)} Its probability raises off_topic's calibrated score "
             "as a noisy OR, 1 - (1 - p_off)(1 - p_spam), before thresholds: a pitch is off-topic under any article."), ""]


def _bare_pitches(config: ModelConfig) -> bool:
    """Whether the head's pitches take in training/spam.py's bare ones (transformer.spam_bare_pitches)."""
    return bool(config.train_config.get("transformer", {}).get("spam_bare_pitches"))


def _spam_choice(spam: dict) -> str:
    """How the recorded C was chosen: dirs made before the recall slack took the best recall, then the smaller C."""
    slack = spam.get("recall_slack_pitches")
    if slack is None:
        return "C was the strength of best held-out recall within that cap, the smaller on a tie."
    return (f"C was the least lifting of the strengths within that cap whose held-out recall was within {slack} pitches of the best "
            "(the smaller on a tie).")


def _input_text_lines(config: ModelConfig) -> list[str]:
    """How a comment's text is changed before the model reads it, in training and in service alike."""
    if not config.backend.get("text_normalisation"):
        return ["- Input text: read as written (no normalisation).", ""]
    repair = (" Misspelt abuse is repaired last (threadguard/spelling.py: \"I haet them\" is read as \"I hate them\")."
              if config.backend.get("spelling_repair") else "")
    return ["- Input text: comment and parent are normalised before the model reads them (threadguard/normalise.py: "
            "NFKC, zero-width characters, look-alikes, split letters, leet)." + repair, ""]


def render_card(config: ModelConfig, thresholds: dict[str, LabelThresholds], metrics: Metrics) -> str:
    """The model card: intended use, data with hashes and licences, thresholds, metrics, limits."""
    lines = [
        f"# Model card: {config.name}",
        "",
        f"- Version: `{config.version}`; kind: `{config.kind}`; created {config.created_at}; git `{config.git_sha or 'unknown'}`",
        "- Labels (independent sigmoid scores): `hate`, `insult`, `off_topic`.",
        *_input_text_lines(config),
        *_fine_tuning_lines(config),
        *_refit_lines(config),
        *_recalibrated_lines(config),
        *_soup_lines(config),
        *_runtime_lines(config),
        *_spam_head_lines(config),
        "## Intended use",
        "Triage of English news and forum comments for human moderators: scores route comments to allow /",
        "review / reject by the thresholds below. It is not meant to take final decisions alone on hate speech",
        "and is not validated for non-English text, for very short messages, or outside comment sections.",
        "",
        "## Data",
        "| set | split | role | rows | licence | sha256 (canonical JSONL) |",
        "|---|---|---|---|---|---|",
    ]
    for record in config.data:
        lines.append(f"| {record.name} | {record.split} | {record.role} | {record.rows} | {record.licence or '-'} | `{record.sha256[:16]}…` |")
    lines += ["", "Source files (sha256):", ""]
    seen: set[str] = set()
    for record in config.data:
        for file, digest in record.source_files.items():
            if (record.name, file) not in seen:
                seen.add((record.name, file))  # type: ignore[arg-type]
                lines.append(f"- {record.name}: `{file}` `{digest}`")
    restricted = sorted({r.licence for r in config.data if r.role == "train" and r.licence and ("non-commercial" in r.licence or "research" in r.licence or "unclear" in r.licence)})
    lines += ["", "Use restriction from training data: " + ("; ".join(restricted) + " — not for commercial use without checking those licences." if restricted else "none found among the training corpora."), ""]
    lines += ["## Thresholds (chosen on validation data)", "| label | review | reject |", "|---|---|---|"]
    lines += [f"| {label} | {t.review:.3f} | {t.reject:.3f} |" for label, t in thresholds.items()]
    lines += ["", "## Metrics (test splits)", "| set | label | n | positives | ROC-AUC | PR-AUC | P@review | R@review | F1@review | P@reject | R@reject | ECE |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for eval_set in metrics.eval_sets:
        for label, m in eval_set.labels.items():
            lines.append(
                f"| {eval_set.name} | {label} | {m.n} | {m.positives} | {_fmt(m.roc_auc)} | {_fmt(m.pr_auc)} | "
                f"{m.review['precision']:.3f} | {m.review['recall']:.3f} | {m.review['f1']:.3f} | {m.reject['precision']:.3f} | {m.reject['recall']:.3f} | {_fmt(m.ece)} |"
            )
    if metrics.functional:
        f = metrics.functional
        reviewed = any("positive_review" in r for r in f["functionalities"])  # dirs made before 2026-12-06 have 0.5 only
        lines += ["", "## Functional suite (tests/functional, 0.5 cut-off" + (", and at the review thresholds above)" if reviewed else ")"),
                  f"Overall {f['overall']:.2f}" + (f"; obfuscation {f['obfuscation']:.2f}" if f.get("obfuscation") is not None else "") + ".", "",
                  "| functionality | cases | pass (expects label) | pass (expects none) |" + (" held at review | left alone at review |" if reviewed else ""),
                  "|---|---|---|---|" + ("---|---|" if reviewed else "")]
        for r in f["functionalities"]:
            cells = [rate_cell(r["positive_pass"], r["positives"]), rate_cell(r["negative_pass"], r["negatives"])]
            if reviewed:
                cells += [rate_cell(r.get("positive_review"), r["positives"]), rate_cell(r.get("negative_review"), r["negatives"])]
            lines.append(f"| {r['name']} | {r['n']} | " + " | ".join(cells) + " |")
    lines += ["", *_limit_lines(config, metrics), ""]
    return "\n".join(lines)


WEAK_AUC = 0.75  # a test split's ROC-AUC under this is named among the limits
WEAK_PASS = 0.9  # a functionality's pass rate under this (the target for the suite overall) is named too


def _limit_lines(config: ModelConfig, metrics: Metrics) -> list[str]:
    """What a reader should not trust the model with: what its kind cannot see, and where its own measurements are weak."""
    lines = ["## Known limits",
             "- Public corpora use other definitions (tweets, hate forums, 'insult a fellow participant'); news-comment",
             "  validation is small. Off-topic is learnt from synthetic wrong-article pairs and Q&A relevance labels."]
    if config.kind == "linear":
        lines.append("- Word and character n-grams: obfuscated slurs and identity terms in neutral use are known failure modes.")
    else:
        lines.append(f"- The encoder reads {config.backend.get('max_length', 128)} tokens at a time; off_topic judges a comment by its "
                     "opening window and context, while in service hate and insult read every later window too.")
        if config.backend.get("spam_head") and not _bare_pitches(config):
            lines.append("- The spam head learnt pitches that carry an offer or a link; a bare call to buy (\"Buy gold now!\") can pass "
                         "(docs/benchmarks.md, \"Bare pitches\").")
    weak = [f"{s.name} {label} {m.roc_auc:.3f}" for s in metrics.eval_sets for label, m in s.labels.items()
            if m.roc_auc is not None and m.roc_auc < WEAK_AUC]
    if weak:
        lines.append(f"- Test splits with ROC-AUC under {WEAK_AUC}: " + "; ".join(weak) + ".")
    if metrics.functional:
        failing = [f"{r['name']} {rate:.2f}" for r in metrics.functional["functionalities"]
                   for rate in [min(p for p in (r["positive_pass"], r["negative_pass"]) if p is not None)] if rate < WEAK_PASS]
        if failing:
            lines.append(f"- Functional suite functionalities passed under {WEAK_PASS}: " + "; ".join(failing) + ".")
    lines.append("- HateCheck is evaluation only; see its per-functionality results in docs/ before trusting hate scores.")
    return lines
