"""Head refit over a frozen encoder: the chosen C follows validation, only the asked heads change, and off_topic
learns to read the parent when the training rows make the parent matter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from labels.schema import Label, LabelledComment
from serving.heads import Heads
from serving.transformer import PartEmbeddings
from threadguard.errors import ConfigError
from training.head_refit import refit_heads

DIM = 8


class TopicBackend:
    """Embeds a text as the unit vector of the topic its first word names ("t3 ..." -> e3) plus a little noise."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def _vec(self, text: str | None) -> np.ndarray:
        if not text:
            return np.zeros(DIM, dtype=np.float32)
        v = np.zeros(DIM, dtype=np.float32)
        v[int(text.split()[0][1:])] = 1.0
        return v + self.rng.normal(0, 0.05, DIM).astype(np.float32)

    def embed_parts(self, rows: Sequence[LabelledComment]) -> PartEmbeddings:
        comment = np.stack([self._vec(r.body) for r in rows])
        article = np.stack([self._vec(r.article_title) for r in rows])
        parent = np.stack([self._vec(r.parent_body) for r in rows])
        return PartEmbeddings(comment, article, parent, np.array([bool(r.article_title) for r in rows]), np.array([bool(r.parent_body) for r in rows]))


def _rows(n: int, seed: int, split: str) -> list[LabelledComment]:
    """Replies on their article's topic; half sit under a parent of their topic (on topic), half under another (off)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        topic, other = rng.choice(DIM, 2, replace=False)
        off = i % 2
        rows.append(LabelledComment(id=f"{split}{i}", source="s", split=split, thread_id=f"t{topic}", body=f"t{topic} reply {i}",
                                    article_title=f"t{topic} article", parent_body=f"t{other if off else topic} parent",
                                    hate=int(rng.random() < 0.3), off_topic=off))
    return rows


def _heads() -> Heads:
    rng = np.random.default_rng(1)
    return Heads(rng.normal(size=(2, DIM)).astype(np.float32), np.zeros(2, np.float32), np.zeros((1, 3 * DIM + 4), np.float32), np.zeros(1, np.float32))


def test_off_topic_refit_reads_the_parent_and_leaves_the_comment_heads_alone() -> None:
    backend, heads = TopicBackend(), _heads()
    train, valid = _rows(400, 1, "train"), _rows(120, 2, "validation")
    refit, fits = refit_heads(backend, heads, train, [1.0] * len(train), valid, [0] * len(valid), [1.0], [Label.off_topic], pos_weight_max=5.0)
    assert np.array_equal(refit.comment_weight, heads.comment_weight) and np.array_equal(refit.comment_bias, heads.comment_bias)
    assert not np.array_equal(refit.context_weight, heads.context_weight)
    assert fits[0].label == "off_topic" and fits[0].validation[fits[0].strength] == max(fits[0].validation.values()) > 0.95
    assert fits[0].validation[float("inf")] == 0.5  # the zero head it started from
    test = _rows(100, 3, "test")
    logits = refit.logits(*backend.embed_parts(test))[:, 2]
    y = np.array([r.off_topic for r in test])
    assert logits[y == 1].mean() > logits[y == 0].mean() + 1.0  # foreign parents score off topic
    assert np.array_equal(heads.context_weight, np.zeros((1, 3 * DIM + 4), np.float32))  # the input heads are not modified


def test_a_refit_that_does_not_help_validation_keeps_the_head_as_it_was() -> None:
    backend = TopicBackend()
    train, valid = _rows(400, 1, "train"), _rows(120, 2, "validation")
    good, _ = refit_heads(backend, _heads(), train, [1.0] * 400, valid, [0] * 120, [1.0], [Label.off_topic], pos_weight_max=5.0)
    flipped = [r.model_copy(update={"off_topic": 1 - r.off_topic}) for r in train]  # rows that teach the opposite
    kept, fits = refit_heads(backend, good, flipped, [1.0] * 400, valid, [0] * 120, [1.0], [Label.off_topic], pos_weight_max=5.0)
    assert fits[0].strength == float("inf") and np.array_equal(kept.context_weight, good.context_weight)


def test_a_label_without_both_classes_or_rows_is_a_one_line_error() -> None:
    backend, heads = TopicBackend(), _heads()
    train = [r.model_copy(update={"off_topic": 0}) for r in _rows(40, 1, "train")]
    with pytest.raises(ConfigError, match="one class only"):
        refit_heads(backend, heads, train, [1.0] * 40, _rows(20, 2, "validation"), [0] * 20, [1.0], [Label.off_topic], pos_weight_max=5.0)
    with pytest.raises(ConfigError, match="no annotated training rows"):
        refit_heads(backend, heads, [r.model_copy(update={"insult": None}) for r in train], [1.0] * 40, _rows(20, 2, "validation"), [0] * 20, [1.0],
                    [Label.insult], pos_weight_max=5.0)


def test_the_per_group_guard_refuses_a_pull_that_trades_one_source_for_another() -> None:
    """Group 0 is what the new rows teach; group 1 is what the head already knew, with little weight. The weighted
    mean alone takes the free fit, which forgets group 1; the guard keeps a pull that holds it."""
    from training.head_refit import fit_head, group_aucs

    rng = np.random.default_rng(4)

    def rows(n: int, taught: bool) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.5).astype(float)
        x = rng.normal(0, 1, (n, 2))
        if taught:  # x0 carries the label, x1 leans against it
            x[:, 0] += 2 * (y - 0.5) * 2
            x[:, 1] -= 2 * (y - 0.5) * 0.6
        else:  # only x1 carries it: what the head as it is reads
            x[:, 1] += 2 * (y - 0.5) * 2
        return x, y

    train_x, train_y = rows(600, taught=True)
    (x0, y0), (x1, y1) = rows(200, taught=True), rows(200, taught=False)
    valid_x, valid_y, groups = np.r_[x0, x1], np.r_[y0, y1], np.r_[np.zeros(200, int), np.ones(200, int)]
    start = (np.array([0.0, 1.0]), 0.0)
    kwargs = {"start": start, "pos_weight_max": 5.0, "strengths": (1.0, 0.3, 0.1, 0.03, 0.01, 0.001)}
    free = fit_head(Label.off_topic, train_x, train_y, np.ones(600), valid_x, valid_y, groups, [0.9, 0.1], tolerance=1.0, **kwargs)
    guarded = fit_head(Label.off_topic, train_x, train_y, np.ones(600), valid_x, valid_y, groups, [0.9, 0.1], **kwargs)
    assert guarded.strength > free.strength
    before = group_aucs(valid_y, valid_x @ start[0], groups)
    after = group_aucs(valid_y, valid_x @ guarded.weight + guarded.bias, groups)
    unguarded = group_aucs(valid_y, valid_x @ free.weight + free.bias, groups)
    assert after[1] >= before[1] - 0.02 > unguarded[1] and after[0] > before[0] + 0.2


def test_parent_only_moves_the_parent_weights_and_keeps_the_articles() -> None:
    from training.head_refit import parent_features

    backend, heads = TopicBackend(), _heads()
    heads.context_weight[0] = np.random.default_rng(7).normal(size=3 * DIM + 4).astype(np.float32)  # a head that already knows something
    train, valid = _rows(400, 1, "train"), _rows(120, 2, "validation")
    refit, fits = refit_heads(backend, heads, train, [1.0] * 400, valid, [0] * 120, [1.0], [Label.off_topic], pos_weight_max=5.0, parent_only=True)
    mask = parent_features(DIM)
    assert mask.sum() == DIM + 2
    assert np.array_equal(refit.context_weight[0, ~mask], heads.context_weight[0, ~mask])
    assert not np.array_equal(refit.context_weight[0, mask], heads.context_weight[0, mask])
    assert fits[0].strength != float("inf") and fits[0].validation[fits[0].strength] > 0.9  # the parent's weights alone learn it


def test_pair_guards_add_the_in_domain_validation_rows_beside_their_wrong_context_copies() -> None:
    from types import SimpleNamespace

    from training.data import DataBundle, NamedSet
    from training.head_refit import with_pair_guards

    rows = [r.model_copy(update={"split": "validation", "source": "inhouse"}) for r in _rows(30, 5, "validation")]
    bundle = DataBundle()
    bundle.validation_sets = [NamedSet("kaggle", []), NamedSet("inhouse", rows)]
    config = SimpleNamespace(seed=1, data=SimpleNamespace(report_first=["inhouse"], parent_swap_pairs=True))
    valid, groups, weights = with_pair_guards(config, bundle, ["k"], [0], [0.2, 0.7])
    assert valid[0] == "k" and weights == [0.2, 0.7, 0.7] and set(groups[1:]) == {2}
    added = valid[1:]
    on_topic = sum(r.off_topic == 0 for r in rows)
    assert len(added) == len(rows) + 2 * on_topic  # each on-topic reply: another article, and another thread's parent
    assert {r.id for r in rows} <= {r.id for r in added}


def test_a_guard_set_adds_its_validation_rows_that_the_stopping_sets_lack(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from labels.schema import HandLabelledComment
    from labels.sets import write_jsonl
    from training.data import DataBundle, NamedSet
    from training.head_refit import in_domain_weight, with_guard_set

    def hand(key: str, split: str) -> HandLabelledComment:
        return HandLabelledComment(id=key, source="inhouse", split=split, thread_id="t", body=f"comment {key}", hate=0, insult=0,  # type: ignore[arg-type]
                                   off_topic=0, rationale="plain remark", labeller="l", guide_version="1.2")

    known = [hand("a", "validation"), hand("b", "validation")]
    path = tmp_path / "grown.jsonl"
    write_jsonl([*known, hand("c", "validation"), hand("d", "validation"), hand("e", "test"), hand("f", "train")], path)
    bundle = DataBundle()
    bundle.validation_sets = [NamedSet("kaggle", []), NamedSet("inhouse", list(known))]
    config = SimpleNamespace(data=SimpleNamespace(report_first=["inhouse"]))
    assert in_domain_weight(config, bundle, [0.2, 0.7]) == 0.7  # one stopping group per source
    assert in_domain_weight(config, bundle, [1.0]) == 1.0  # one group of all rows
    valid, groups, weights = with_guard_set(path, bundle, ["k"], [0], [0.2, 0.7, 0.7], weight=0.7)  # a pair group added already
    assert [r.id for r in valid[1:]] == ["c", "d"]  # validation only, and only what early stopping does not score
    assert groups == [0, 3, 3] and weights == [0.2, 0.7, 0.7, 0.7]  # one more group, weighted as the in-domain set

    write_jsonl(known, path)
    assert with_guard_set(path, bundle, ["k"], [0], [0.2, 0.7], weight=0.7) == (["k"], [0], [0.2, 0.7])  # nothing new: no group


def test_source_offsets_keep_a_corpus_base_rate_out_of_the_weights() -> None:
    """Two corpora, one mostly positive, and a feature that only says which corpus a row came from. With one bias the
    fit leans on that feature to learn the base rates; with an offset per source, as fine-tuning had, it reads the
    feature that carries the label and leaves the corpus marker near zero."""
    from training.head_refit import SourceOffsets, fit_head

    rng = np.random.default_rng(11)
    n = 2000
    corpus = (rng.random(n) < 0.5).astype(int)  # 1: the corpus whose rows are mostly positive
    y = (rng.random(n) < np.where(corpus == 1, 0.7, 0.1)).astype(float)
    signal = rng.normal(0, 1, n) + 1.5 * (y - 0.5)
    marker = corpus + rng.normal(0, 0.3, n)
    x = np.c_[signal, marker]
    offsets = SourceOffsets(["inhouse", "kaggle", "generated"], corpus, np.zeros(3), np.array([False, True, True]))
    kwargs = {"start": (np.zeros(2), 0.0), "pos_weight_max": 1.0, "strengths": (0.001,), "tolerance": 1.0}
    valid = (x[:200], y[:200], np.zeros(200, int), [1.0])
    one_bias = fit_head(Label.insult, x, y, np.ones(n), *valid, **kwargs)
    per_source = fit_head(Label.insult, x, y, np.ones(n), *valid, offsets=offsets, **kwargs)
    assert one_bias.weight[1] > 1.0  # the corpus marker soaks up the base rate
    assert abs(per_source.weight[1]) < 0.3 * one_bias.weight[1]
    assert per_source.offsets["kaggle"] > 1.5 and per_source.offsets["inhouse"] == 0.0  # the served source stays fixed
    assert per_source.weight[0] > 1.0 and not one_bias.offsets


def test_source_offsets_follow_the_dir_config_and_start_where_fine_tuning_left_them() -> None:
    from types import SimpleNamespace

    from training.head_refit import source_offsets

    rows = [LabelledComment(id=str(i), source=src, split="train", thread_id="t", body="b", insult=0)
            for i, src in enumerate(["inhouse:fox_news", "kaggle_insults", "synthetic_spam", "olid", "inhouse"])]
    recorded = {"folded": "inhouse", "biases": {"inhouse": [0.0, 0.5, 0.0], "kaggle_insults": [0.0, -0.5, 0.0], "olid": [0.0, 0.4, 0.0]}}
    tcfg = SimpleNamespace(source_bias="corpora", source_bias_labels=[Label.insult])
    offsets = source_offsets(tcfg, rows, Label.insult, recorded)
    assert offsets is not None and offsets.names == ["inhouse", "kaggle_insults", "olid", "generated"]
    assert offsets.index.tolist() == [0, 1, 3, 2, 0]  # the generators' rows share the bias-free group
    assert np.allclose(offsets.start, [0.0, -1.0, -0.1, -0.5])  # each source's bias less the served source's
    assert offsets.free.tolist() == [False, True, True, False]  # the served source and the generators' rows stay where training left them
    assert source_offsets(tcfg, rows, Label.hate, recorded) is None  # a label fine-tuning gave no bias
    assert source_offsets(SimpleNamespace(source_bias="off", source_bias_labels=[Label.insult]), rows, Label.insult, recorded) is None
