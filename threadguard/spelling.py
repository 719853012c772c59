"""Spelling repair for the words abuse is said with: "I haet them", "such hatrd", "you idoit", "Ihate them".

A commenter who misspells "hate" or "idiot" on purpose (or by accident) writes a word the encoder has never seen,
split into pieces that carry little of the word's meaning. Repair is deliberately narrow, so ordinary text, names and
slang pass through untouched:

- only a word that is neither English (pyspellchecker's 160,000-word frequency list) nor in ABUSE_WORDS is touched;
- it becomes the one word of REPAIR_TARGETS it is with a letter dropped or two neighbouring letters swapped, the first
  letter kept, both at least four letters long ("haet", "hatrd", "idoit");
- a non-word that is a word of ABUSE_WORDS run together with a common English word is split ("muchdisdain", "Ihate").

A known word is never changed ("hater", "mate", "spice" stay), and an added, changed or first letter is never repaired
("Nikes", "Ching", "haute" stay), so repair does not make abuse of other words; it undoes a misspelling of a word that
was abusive already. On minilm.toml's training rows it changes 0.7 % (docs/robustness.md, "Spelling repair").
"""

from __future__ import annotations

import re
from functools import cache

# Words of hatred, contempt, dehumanisation, insult and the common slurs, in the forms a comment uses them, written
# from the labelling guide's definitions. Not extended from what an evaluation set still misses (docs/robustness.md).
ABUSE_WORDS = frozenset("""
hate hated hates hating hatred hateful haters despise despised despises despicable loathe loathed loathing loathsome
detest detested detestable disgust disgusted disgusting disgrace disgraceful disdain contempt contemptible revolting
repulsive repugnant sickening abhor abhorrent vile filthy scum scumbag vermin parasite parasites cockroaches savages
savage subhuman subhumans animals inferior worthless useless exterminate eradicate
idiot idiots idiotic moron morons moronic stupid stupidest dumbest imbecile imbeciles cretin cretins loser losers
clown clowns pathetic ignorant fools halfwit dimwit retard retards retarded
bitch bitches whore whores slut sluts bastard bastards asshole assholes fucking shithead
nigger niggers nigga niggas faggot faggots kike kikes spics tranny trannies dyke dykes chink chinks wetback wetbacks
raghead ragheads towelhead towelheads gooks coons pakis shemale
""".split())
_MIN_LETTERS = 4
# Short slurs sit one letter from names and brands ("chink": "chik"; "kikes": "kiks"), so only the longer ones are
# repair targets; the short ones are still found when written in leet or look-alikes (threadguard.normalise).
_SHORT_SLURS = frozenset("kike kikes spics dyke dykes chink chinks gooks coons pakis nigga".split())
REPAIR_TARGETS = ABUSE_WORDS - _SHORT_SLURS
_TARGETS_BY_LETTER = {letter: sorted(w for w in REPAIR_TARGETS if w[0] == letter) for letter in {w[0] for w in REPAIR_TARGETS}}
# The other half of a run-together pair must be a common word (pyspellchecker counts), so "bitchute" (ute),
# "muscum" (mu) and "faggotry" (ry) are not split into an abuse word and a fragment.
_COMMON = 5000
_WORD = re.compile(r"(?<![\w'])[A-Za-z]+(?![\w'])")
_ONE_LETTER_WORDS = frozenset({"i", "a"})


@cache
def _english():  # type: ignore[no-untyped-def]
    """pyspellchecker's English frequency list, loaded once (about 0.3 s) on first use."""
    from spellchecker import SpellChecker

    return SpellChecker(distance=1)


def is_known(word: str) -> bool:
    """An English word or an abuse word (some slurs are not in the English list), which repair leaves alone."""
    lowered = word.lower()
    return lowered in ABUSE_WORDS or is_english(lowered)


def is_english(word: str) -> bool:
    lowered = word.lower()
    return len(lowered) == 1 and lowered in _ONE_LETTER_WORDS or len(lowered) > 1 and lowered in _english()


def _common(word: str, letters: int) -> bool:
    """A common English word of at least `letters` letters; "I" and "a" lead a pair ("Ihate", "afucking")."""
    if len(word) == 1:
        return letters < 3 and word in _ONE_LETTER_WORDS
    return len(word) >= letters and _english().word_frequency[word] >= _COMMON


def _like(word: str, repaired: str) -> str:
    """`repaired` in the case `word` was written in."""
    if word.isupper() and len(word) > 1:
        return repaired.upper()
    return repaired.capitalize() if word[0].isupper() else repaired


def _dropped_or_swapped(word: str, target: str) -> bool:
    """Whether `word` is `target` with one letter dropped or two neighbours swapped, its first letter kept.

    Added and changed letters are not repaired: they turn other words into abuse ("Nikes", "Ching", "haute").
    """
    if word[0] != target[0]:
        return False
    if len(target) == len(word) + 1:
        return any(target[:i] + target[i + 1 :] == word for i in range(1, len(target)))
    if len(target) == len(word):
        diff = [i for i, (a, b) in enumerate(zip(word, target, strict=True)) if a != b]
        return len(diff) == 2 and diff[1] == diff[0] + 1 and word[diff[0]] == target[diff[1]] and word[diff[1]] == target[diff[0]]
    return False


def _misspelt(lowered: str) -> str | None:
    """The one abuse word the word misspells (see _dropped_or_swapped), if exactly one."""
    if len(lowered) < _MIN_LETTERS:
        return None
    near = [w for w in _TARGETS_BY_LETTER.get(lowered[0], ()) if _dropped_or_swapped(lowered, w)]
    return near[0] if len(near) == 1 else None


def _run_together(lowered: str) -> tuple[str, str] | None:
    """The abuse word and the common word the non-word runs together, split at the first cut that gives them."""
    for cut in range(1, len(lowered)):
        left, right = lowered[:cut], lowered[cut:]
        if left in ABUSE_WORDS and _common(right, 3) or right in ABUSE_WORDS and _common(left, 2):
            return left, right
    return None


def repair_word(word: str) -> str:
    """The word, or the abuse word it misspells, or the two words it runs together (see the module's rules)."""
    if is_known(word):
        return word
    lowered = word.lower()
    if (pair := _run_together(lowered)) is not None:  # first: "Ihate" is "I hate", not "hate" with a letter added
        left, right = pair
        return _like(word, left) + " " + right if not word.isupper() else f"{left} {right}".upper()
    if (fixed := _misspelt(lowered)) is not None:
        return _like(word, fixed)
    return word


def repair_spelling(text: str) -> str:
    """Every word of the text through repair_word (idempotent: what repair writes is known words)."""
    return _WORD.sub(lambda m: repair_word(m.group(0)), text)
