"""Assemble a run's data from its TrainConfig: training rows with weights, pooled validation, named test sets."""

from __future__ import annotations

import importlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labels.corpora import CORPORA, corpus_file_hashes, corpus_folder, iter_texts, load_corpus, load_hub_dataset
from labels.pairs import with_wrong_context_pairs
from labels.schema import LabelledComment
from labels.sets import read_jsonl, sha256_of_file, sha256_of_rows
from threadguard.artifact import DataSetRecord
from threadguard.errors import DataError
from threadguard.settings import PROJECT_ROOT
from training.config import DataConfig, SourceConfig, TrainConfig

log = logging.getLogger(__name__)


@dataclass
class NamedSet:
    """One evaluation set: a source's test split, an evaluation-only corpus, or the seed set."""

    name: str
    rows: list[LabelledComment]
    held_out: str | None = None  # the corpus this set was drawn from when training kept that corpus out entirely


@dataclass
class DataBundle:
    """Everything a run reads, plus a record of each set for the model card."""

    train: list[LabelledComment] = field(default_factory=list)
    train_weights: list[float] = field(default_factory=list)
    validation: list[LabelledComment] = field(default_factory=list)
    # every training source's validation split, by source (the thresholds' sources included): the early-stopping score
    validation_sets: list[NamedSet] = field(default_factory=list)
    tests: list[NamedSet] = field(default_factory=list)
    records: list[DataSetRecord] = field(default_factory=list)


def resolve_path(path: Path) -> Path:
    """A relative path is taken from the working directory if it exists there, else from the project root."""
    return path if path.is_absolute() or path.exists() else PROJECT_ROOT / path


def _load_source(source: SourceConfig, datasets_dir: Path) -> tuple[list[LabelledComment], str | None, dict[str, str]]:
    if source.corpus:
        spec = CORPORA.get(source.corpus)
        if spec is None:
            raise DataError(f"unknown corpus {source.corpus!r}; known: {', '.join(CORPORA)}")
        if spec.eval_only:
            raise DataError(f"corpus {source.corpus!r} is evaluation only and cannot be a training source")
        path = resolve_path(source.path) if source.path else None
        rows = load_corpus(source.corpus, datasets_dir, path)
        return rows, spec.licence, corpus_file_hashes(source.corpus, datasets_dir, path)
    if source.hub:
        return load_hub_dataset(source.hub, source=source.label), None, {}
    assert source.path is not None  # guaranteed by SourceConfig's validator
    path = resolve_path(source.path)
    if not path.is_file():
        raise DataError(f"labelled set not found: {path}")
    return read_jsonl(path), None, {path.name: sha256_of_file(path)}


def _record(name: str, split: str, rows: list[LabelledComment], role: str, licence: str | None, files: dict[str, str]) -> DataSetRecord:
    return DataSetRecord(name=name, split=split, rows=len(rows), sha256=sha256_of_rows(rows), role=role, licence=licence, source_files=files)  # type: ignore[arg-type]


def drop_texts(rows: list[LabelledComment], forbidden: set[str]) -> list[LabelledComment]:
    """Rows whose normalised body is not in `forbidden` (evaluation-only texts never reach training)."""
    kept = [row for row, text in zip(rows, iter_texts(rows), strict=True) if text not in forbidden]
    if len(kept) != len(rows):
        log.info("dropped %d training rows whose text is held out (an evaluation-only or held-out corpus)", len(rows) - len(kept))
    return kept


def origin_corpus(row: LabelledComment) -> str | None:
    """The public corpus a labelled row's text was drawn from, when its thread id says so ("globe_and_mail:...")."""
    prefix = row.thread_id.split(":", 1)[0]
    return prefix if ":" in row.thread_id and prefix in CORPORA else None


def drop_non_commercial_origins(rows: list[LabelledComment], label: str) -> list[LabelledComment]:
    """Rows of our own sets whose text comes from a corpus without commercial use (the in-house set draws on Globe and Mail)."""
    kept = [r for r in rows if (origin := origin_corpus(r)) is None or CORPORA[origin].commercial_use]
    if len(kept) != len(rows):
        log.info("commercial_only: dropped %d rows of %s whose text comes from non-commercial corpora", len(rows) - len(kept), label)
    return kept


# The generators, in the order they run (a later one may take an earlier one's rows as hosts): the config key, which is
# also the generator's name in training/<key without "synthetic_">.py, what its rows are, and any options it takes
# from the data config.
GENERATORS: tuple[tuple[str, str, Callable[[DataConfig], dict[str, Any]] | None], ...] = (
    ("synthetic_spam", "off-topic pitches under training articles", None),
    ("synthetic_contrast", "hateful claims, denials, condemnations and positive statements", None),
    ("synthetic_feelings", "hatred of groups beside grievances about things, generalisations beside twins", None),
    ("synthetic_threats", "threats against groups beside violent hyperbole about things, and refusals", None),
    ("synthetic_name_calling", "name-calling beside criticism and dismissals without an epithet",
     lambda data: {"hate_unset": data.name_calling_hate == "unset"}),
)


def _add_generated(bundle: DataBundle, source: str, rows: list[LabelledComment], what: str) -> None:
    """Training rows written by one of threadguard's generators (training/<name>.py), weight 1, recorded in the card."""
    log.info("%s: %d %s", source, len(rows), what)
    bundle.train += rows
    bundle.train_weights += [1.0] * len(rows)
    module = source.removeprefix("synthetic_")
    bundle.records.append(_record(source, "train", rows, "train", f"threadguard's own generator (training/{module}.py)", {}))


def assemble(config: TrainConfig, datasets_dir: Path, *, progress: bool = True) -> DataBundle:
    """Load every source, add off-topic pairs where asked, and cut train / validation / test sets."""
    from tqdm import tqdm

    bundle = DataBundle()
    eval_only_sets = [NamedSet(f"{name}/test", load_corpus(name, datasets_dir)) for name in config.data.eval_corpora]
    for name, named in zip(config.data.eval_corpora, eval_only_sets, strict=True):
        if not CORPORA[name].eval_only:
            raise DataError(f"eval_corpora lists {name!r}, which is not an evaluation-only corpus")
    # A held-out corpus is unseen by training, so every split of it is forbidden and its test split is reported.
    held_out_sets = []
    for name in config.data.held_out_corpora:
        if name not in CORPORA:
            raise DataError(f"held_out_corpora lists unknown corpus {name!r}; known: {', '.join(CORPORA)}")
        if any(source.corpus == name for source in config.data.sources):
            raise DataError(f"corpus {name!r} is both a training source and held out")
        held_out_sets.append((name, load_corpus(name, datasets_dir)))
    forbidden = {text for named in eval_only_sets for text in iter_texts(named.rows)}
    forbidden |= {text for _, rows in held_out_sets for text in iter_texts(rows)}
    rng = random.Random(config.seed)

    loaded = []
    swaps = config.data.parent_swap_pairs
    for source in tqdm(config.data.sources, desc="loading corpora", unit="corpus", disable=not progress):
        if config.data.commercial_only and source.corpus and not CORPORA[source.corpus].commercial_use:
            log.info("commercial_only: skipping %s (%s)", source.label, CORPORA[source.corpus].licence)
            continue
        rows, licence, files = _load_source(source, datasets_dir)
        offensive = CORPORA[source.corpus].offensive_ids if source.corpus else None
        if config.data.offensive_slurs_as_hate and offensive is not None:
            from labels.slurs import offensive_slurs_as_hate

            folder = corpus_folder(source.corpus, datasets_dir, resolve_path(source.path) if source.path else None)  # type: ignore[arg-type]
            rows, changed = offensive_slurs_as_hate(rows, offensive(folder))
            log.info("%s: %d offensive-class training rows that use a slur for a protected trait set to hate 1", source.label, changed)
        if source.insult_scope == "addressee":
            from labels.addressee import unset_unaddressed_insult_negatives

            rows, changed = unset_unaddressed_insult_negatives(rows)
            log.info("%s: insult unset on %d training rows labelled 0 that address no one (insult_scope addressee)", source.label, changed)
        if config.data.commercial_only and not source.corpus:
            rows = drop_non_commercial_origins(rows, source.label)
        if source.off_topic_pairs == "train":
            # Pairs teach relevance in training, while validation (calibration, thresholds) and test keep the real label mix.
            rows = with_wrong_context_pairs([r for r in rows if r.split == "train"], seed=config.seed, parent_swaps=swaps) + [r for r in rows if r.split != "train"]
        elif source.off_topic_pairs:
            rows = with_wrong_context_pairs(rows, seed=config.seed, parent_swaps=swaps)
        loaded.append((source, rows, licence, files))
    # Each text belongs to one split: the split it has in the first source (config order) that holds it. Rows of
    # later sources whose text sits in another split are dropped, from every split, so no text both trains and
    # tests the model. List the in-domain set first: its thread-level splits then win over the public corpora
    # it was drawn from (dropping its training rows instead would throw away most in-domain labels).
    owner: dict[str, str] = {}
    for _, rows, _, _ in loaded:
        for row, text in zip(rows, iter_texts(rows), strict=True):
            owner.setdefault(text, row.split)

    validation_sources = set(config.thresholds.validation_sources)
    for source, rows, licence, files in loaded:
        kept = [row for row, text in zip(rows, iter_texts(rows), strict=True) if owner[text] == row.split]
        if len(kept) != len(rows):
            log.info("%s: dropped %d rows whose text is in another split of an earlier source", source.label, len(rows) - len(kept))
        train = drop_texts([r for r in kept if r.split == "train"], forbidden)
        if source.limit and len(train) > source.limit:
            train = rng.sample(train, source.limit)
        validation = [r for r in kept if r.split == "validation"]
        test = [r for r in kept if r.split == "test"]
        bundle.train += train
        bundle.train_weights += [source.weight] * len(train)
        if not validation_sources or source.label in validation_sources:
            bundle.validation += validation
        if validation:
            bundle.validation_sets.append(NamedSet(source.label, validation))
        if test:
            bundle.tests.append(NamedSet(f"{source.label}/test", test))
        for split, part, role in (("train", train, "train"), ("validation", validation, "validation"), ("test", test, "test")):
            if part:
                bundle.records.append(_record(source.label, split, part, role, licence, files))
    if not bundle.validation:
        raise DataError(f"no validation rows from {sorted(validation_sources) or 'any source'} to choose thresholds on")
    # The in-domain test split(s) are reported first: news comments are what users moderate.
    first = set(config.data.report_first)
    bundle.tests.sort(key=lambda named: named.name.removesuffix("/test") not in first)

    if not bundle.train:
        raise DataError("the config's sources gave no training rows")
    if config.data.identity_counterfactuals:
        from training.augment import identity_counterfactuals

        copies, weights = identity_counterfactuals(bundle.train, bundle.train_weights, share=config.data.identity_counterfactuals,
                                                   seed=config.seed, forbidden=forbidden)
        log.info("identity counterfactuals: %d copies of training rows with another group swapped in", len(copies))
        bundle.train += copies
        bundle.train_weights += weights
    counts = {key: getattr(config.data, key) for key, _, _ in GENERATORS}
    if any(counts.values()) or config.data.typo_copies:
        from training.functional import SUITE, load_suite

        not_generated = forbidden | {case.body for case in load_suite(SUITE)}  # the suite still measures generalisation
    for key, what, options in GENERATORS:
        if counts[key]:
            generate = getattr(importlib.import_module(f"training.{key.removeprefix('synthetic_')}"), key)
            rows = generate(bundle.train, counts[key], seed=config.seed, forbidden=not_generated, **(options(config.data) if options else {}))
            _add_generated(bundle, key, rows, what)
    if config.data.typo_copies:
        from training.augment import typo_copies

        # Last, so generated rows get misspelled too: the contrast rows hold most of the hateful statements' forms.
        copies, weights = typo_copies(bundle.train, bundle.train_weights, share=config.data.typo_copies, seed=config.seed, forbidden=not_generated)
        log.info("typo copies: %d misspelled copies of training rows", len(copies))
        bundle.train += copies
        bundle.train_weights += weights
    for name, rows in held_out_sets:
        test = [r for r in rows if r.split == "test"] or rows
        bundle.tests.append(NamedSet(f"{name}/test (held out)", test, held_out=name))
        bundle.records.append(_record(name, "test", test, "test", CORPORA[name].licence, corpus_file_hashes(name, datasets_dir)))
    for name, named in zip(config.data.eval_corpora, eval_only_sets, strict=True):
        bundle.tests.append(named)
        bundle.records.append(_record(name, "test", named.rows, "test", CORPORA[name].licence, corpus_file_hashes(name, datasets_dir)))
    if config.data.seed_set is not None:
        seed_path = resolve_path(config.data.seed_set)
        seed_rows = read_jsonl(seed_path, hand_labelled=True)
        bundle.tests.insert(sum(n.name.removesuffix("/test") in set(config.data.report_first) for n in bundle.tests), NamedSet("seed", seed_rows))
        bundle.records.append(_record("seed", "test", seed_rows, "test", "threadguard's own labels", {}))
    return bundle

