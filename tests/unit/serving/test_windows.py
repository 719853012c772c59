"""Where a long comment is cut into windows: whole sentences where they fit, token overlaps where they do not."""

from __future__ import annotations

from serving.windows import sentence_starts, tail_windows


def _offsets(text: str) -> list[tuple[int, int]]:
    """One token per whitespace-separated word, with its character span."""
    spans, at = [], 0
    for word in text.split():
        start = text.index(word, at)
        spans.append((start, start + len(word)))
        at = start + len(word)
    return spans


def test_sentence_starts_follow_terminal_punctuation_and_closing_quotes() -> None:
    text = 'One two. Three? "Four!" Five... six'
    assert [text[i:i + 4] for i in sentence_starts(text)] == ["Thre", '"Fou', "Five", "six"]
    assert sentence_starts("no punctuation at all") == [] and sentence_starts("Ends here.") == []


def test_a_text_that_fits_has_no_further_windows() -> None:
    text = "a b c. d e f."
    assert tail_windows(_offsets(text), text, capacity=6, overlap=2) == []


def test_each_sentence_the_first_window_does_not_hold_whole_opens_a_window_with_the_next_for_context() -> None:
    text = " ".join(f"s{k}a s{k}b s{k}c s{k}d." for k in range(6))  # 24 tokens, a sentence every 4
    # the first window [0, 10) holds s0 and s1 whole and cuts s2: s2 to s5 each open a window, through the next sentence
    assert tail_windows(_offsets(text), text, capacity=10, overlap=3) == [(8, 16), (12, 20), (16, 24), (20, 24)]
    assert tail_windows(_offsets(text), text, capacity=10, overlap=3, follow=0) == [(8, 12), (12, 16), (16, 20), (20, 24)]
    # the next sentence is cut at the window's capacity
    assert tail_windows(_offsets(text), text, capacity=6, overlap=2, follow=3)[0] == (4, 10)


def test_a_sentence_longer_than_a_window_is_cut_by_tokens_with_the_overlap() -> None:
    text = " ".join(f"w{i}" for i in range(25))  # one sentence, no punctuation
    windows = tail_windows(_offsets(text), text, capacity=10, overlap=3)
    assert windows == [(7, 17), (14, 24), (21, 25)]
    covered = set(range(10)).union(*(range(s, e) for s, e in windows))
    assert covered == set(range(25))  # every token is read
    later = "Short one. " + text  # the long sentence now starts at token 2, inside the first window
    assert tail_windows(_offsets(later), later, capacity=10, overlap=3)[:2] == [(2, 12), (9, 19)]
