"""A comment longer than the encoder's max_length is read window by window for hate and insult: abuse after the first
window must count, short comments and off_topic must score as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from labels.schema import Comment
from serving.heads import COMMENT_LABELS, CONTEXT_LABEL
from serving.model import Decision, open_scorer
from serving.transformer import TOKENIZER_FILE
from threadguard.settings import PROJECT_ROOT

DEFAULT_MODEL = PROJECT_ROOT / "models" / "current"
# About 120 words of on-topic council business: more than 128 tokens, so whatever follows it is outside the first window.
COUNCIL = ("The council met on Tuesday to discuss the budget for next year, and the debate went on for hours about roads, "
           "transit, the library hours and the new community centre that residents have asked for since the last election. ") * 3


def _comment(body: str) -> Comment:
    return Comment(id=str(abs(hash(body))), thread_id="budget", body=body, article_title="City budget vote delayed", article_text="The council postponed its budget vote to next week.")


def _backend(model_dir: Path):  # type: ignore[no-untyped-def]
    scorer = open_scorer(model_dir, device="cpu")
    return scorer, scorer.backend


def _logits(backend, items: list[Comment], *, whole: bool) -> np.ndarray:  # type: ignore[no-untyped-def]
    backend.read_whole_comments = whole
    try:
        return backend.logits(items)
    finally:
        backend.read_whole_comments = True


def test_short_comments_and_off_topic_score_as_truncated(tiny_transformer_dir: Path) -> None:
    _, backend = _backend(tiny_transformer_dir)
    short = [_comment("You are a clown."), _comment("Great point about the library hours.")]
    assert np.array_equal(_logits(backend, short, whole=True), _logits(backend, short, whole=False))
    long = [_comment(COUNCIL + "and then some more words " * 40)]
    assert len(backend.window_ids(" ".join(long[0].body.split()))) >= 2  # it is long, in three windows or more
    read, cut = _logits(backend, long, whole=True), _logits(backend, long, whole=False)
    # off_topic keeps the first window (batched beside the tail windows, its float sums may round differently)
    assert read[0, CONTEXT_LABEL] == pytest.approx(cut[0, CONTEXT_LABEL], abs=1e-5)


def test_a_long_comments_hate_and_insult_rise_to_any_later_window_that_reaches_the_gate_alone(tiny_transformer_dir: Path) -> None:
    _, backend = _backend(tiny_transformer_dir)
    bodies = [COUNCIL + "you clown " * 60, "short and sweet", COUNCIL + "The transit plan is late again. " * 20]
    texts = [" ".join(b.split()) for b in bodies]
    got = _logits(backend, [_comment(b) for b in bodies], whole=True)
    gated = 0
    for row, text in enumerate(texts):
        first = backend.heads.comment_logits(np.stack(backend._embed_ids([backend.tokenizer.encode(text).ids])))[0]
        expected = first.copy()
        if backend.window_ids(text):
            tails = backend.heads.comment_logits(np.stack(backend._embed_ids(backend.window_ids(text))))
            for k, column in enumerate(COMMENT_LABELS):
                own = 1 / (1 + np.exp(-(tails[:, k] / backend.temperatures[column] + backend.biases[column])))
                counted = tails[own >= backend.TAIL_GATE, k]
                gated += int((own < backend.TAIL_GATE).sum())
                expected[k] = max([expected[k], *counted])
        assert np.allclose(got[row, list(COMMENT_LABELS)], expected, atol=1e-6)
    assert backend.window_ids(texts[1]) == []
    assert gated  # some window fell below the gate, so the comparison above checked the gate too
    whole = Tokenizer.from_file(str(tiny_transformer_dir / TOKENIZER_FILE))
    whole.no_truncation()
    for text in (texts[0], texts[2]):
        full = whole.encode(text, add_special_tokens=False).ids
        tails = backend.window_ids(text)
        assert tails and all(len(w) <= backend.max_length for w in tails)
        assert tails[-1][-2] == full[-1]  # the windows reach the comment's last token ([SEP] closes each)
    # the council sentences are shorter than a window: the second window opens on the one the first cut
    second = whole.decode(backend.window_ids(texts[2])[0][1:-1])
    assert second.startswith(("the council met", "the transit plan")), second


def test_a_comment_given_twice_in_a_batch_gets_its_windows_both_times(tiny_transformer_dir: Path) -> None:
    _, backend = _backend(tiny_transformer_dir)
    body = COUNCIL + "you clown " * 60
    both = _logits(backend, [_comment(body), _comment("fine"), _comment(body)], whole=True)
    alone = _logits(backend, [_comment(body)], whole=True)
    assert np.allclose(both[0], alone[0], atol=1e-6) and np.allclose(both[2], alone[0], atol=1e-6)


@pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="needs the default model")
@pytest.mark.parametrize("tail", ["Muslims are animals.", "Jews are vermin and should be exterminated.", "You are a complete idiot."])
def test_the_default_model_sees_abuse_after_the_first_window(tail: str) -> None:
    scorer, backend = _backend(DEFAULT_MODEL)
    padded = _comment(COUNCIL + tail)
    assert scorer.score([_comment(tail)])[0].decision is not Decision.allow  # flagged alone
    assert scorer.score([padded])[0].decision is not Decision.allow  # and behind 120 words of council business
    backend.read_whole_comments = False
    try:
        assert scorer.score([padded])[0].decision is Decision.allow  # truncated, it went unseen
    finally:
        backend.read_whole_comments = True


def test_calibration_is_fitted_on_first_windows_and_leaves_the_windows_on(tiny_transformer_dir: Path) -> None:
    """The gate is a calibrated score, so calibration cannot depend on it: it fits what each window scores alone."""
    from labels.schema import LabelledComment
    from training.pipeline import calibrate

    rows = [LabelledComment(id=str(i), source="s", split="validation", thread_id="t", body=body, hate=i % 2, insult=(i // 2) % 2, off_topic=0,
                            article_title="City budget vote delayed")
            for i, body in enumerate([COUNCIL + "you clown " * 40, "A fair point.", COUNCIL + "Shame on all of you.", "Clown.",
                                      "The bus routes matter.", COUNCIL + "I agree with the mayor.", "Vermin.", "Thanks for this."])]
    scorer, backend = _backend(tiny_transformer_dir)
    first = calibrate(scorer, rows)
    assert backend.read_whole_comments is True
    backend.read_whole_comments = False
    try:
        assert calibrate(scorer, rows) == first
    finally:
        backend.read_whole_comments = True


@pytest.mark.skipif(not DEFAULT_MODEL.exists(), reason="needs the default model")
def test_the_default_models_spam_head_sees_a_pitch_after_the_first_window() -> None:
    scorer, backend = _backend(DEFAULT_MODEL)
    padded = _comment(COUNCIL + "Buy gold now! Returns of 300% guaranteed, visit goldhub.example today.")
    assert scorer.score([padded])[0].decision is not Decision.allow
    backend.read_whole_comments = False
    try:
        assert scorer.score([padded])[0].decision is Decision.allow  # truncated, the pitch went unseen
    finally:
        backend.read_whole_comments = True


def test_the_service_setting_turns_the_later_windows_off(tiny_transformer_dir: Path) -> None:
    from serving.api import default_scorer_factory
    from threadguard.settings import Settings

    assert default_scorer_factory(Settings(model_dir=tiny_transformer_dir)).backend.read_whole_comments is True
    assert default_scorer_factory(Settings(model_dir=tiny_transformer_dir, read_whole_comments=False)).backend.read_whole_comments is False
