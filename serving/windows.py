"""Where a comment longer than the encoder's max_length is cut into windows, for hate and insult to read all of it.

The first window is the comment's first max_length tokens, what training saw. Every sentence that window does not hold
whole is then read in a window of its own that opens on it, with the sentence after it for context. Mean pooling
dilutes one hateful sentence in the benign text around it ("Muslims are vermin and should be wiped out." scored hate
0.89 by the 20261204 default alone, 0.50 after 20 words about a council budget), so a window that packed the tail
full would read an attack after a long preamble with much of the preamble still around it (docs/benchmarks.md,
"Long comments"). A sentence longer than a window is cut by tokens, each cut `overlap` tokens before the last one
ended, so a phrase of up to `overlap` tokens is whole in some window.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

# Where a sentence ends: terminal punctuation (and closing quotes or brackets), then space.
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+")


def sentence_starts(text: str) -> list[int]:
    """Character offsets where the sentences of `text` after the first begin."""
    return [match.end() for match in _SENTENCE_END.finditer(text) if match.end() < len(text)]


def tail_windows(offsets: Sequence[tuple[int, int]], text: str, capacity: int, overlap: int, follow: int = 1) -> list[tuple[int, int]]:
    """Token ranges [start, end) of the windows after the first for a text of len(offsets) tokens (`offsets`: each
    token's character span in `text`, special tokens left out), each at most `capacity` tokens: one per sentence the
    first window does not hold whole, from its start through the `follow` sentences after it. Empty when the text fits
    in one window."""
    n = len(offsets)
    if n <= capacity:
        return []
    token_starts = [start for start, _ in offsets]
    bounds = sorted({0, n} | {bisect.bisect_left(token_starts, char) for char in sentence_starts(text)})
    windows: list[tuple[int, int]] = []
    for i, (start, end) in enumerate(zip(bounds, bounds[1:])):
        if end <= capacity:  # the first window holds it whole
            continue
        if end - start <= capacity:
            windows.append((start, min(bounds[min(i + 1 + follow, len(bounds) - 1)], start + capacity)))
            continue
        # a sentence longer than a window: token windows across it, the first where the first window left off
        begin = start if start > 0 else capacity - overlap
        while True:
            windows.append((begin, min(end, begin + capacity)))
            if begin + capacity >= end:
                break
            begin += capacity - overlap
    return windows
