"""Text normalisation against the tricks commenters use, applied the same way in training and serving.

Steps, each only where it cannot damage ordinary text:
1. Unicode NFKC (full-width letters, ligatures, compatibility forms) and removal of zero-width and soft-hyphen
   characters ("i\u200bdiot" -> "idiot").
2. Look-alikes: Cyrillic and Greek letters that look Latin are mapped to Latin inside words that also hold Latin
   letters ("\u0456d\u0456\u043et" -> "idiot"); a word wholly in Cyrillic (Russian text) is left alone.
3. Letters split by spaces or punctuation are joined when at least three single letters run in a row
   ("i d i o t", "i.d.i.o.t" -> "idiot").
4. Leet: inside a word with at least two letters, 0 1 3 4 5 7 @ $ ! become o i e a s t a s i
   ("1d10t" -> "idiot", "n1gg@" -> "nigga"), but not numbers, ordinals or units ("2026", "3rd", "10km"), words with a
   number ("covid19"), @mentions or e-mail addresses.
5. Only with `repair_spelling` (a model dir's `spelling_repair`): a non-word that misspells a word of abuse, or runs
   one together with another word, is repaired ("I haet them", "Ihate them" -> "I hate them"; threadguard.spelling).
"""

from __future__ import annotations

import re
import unicodedata

ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)
LOOKALIKES = str.maketrans({
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0441": "c", "\u0440": "p", "\u0456": "i", "\u0445": "x", "\u0443": "y", "\u0455": "s",
    "\u0458": "j", "\u04bb": "h", "\u0410": "A", "\u0415": "E", "\u041e": "O", "\u0421": "C", "\u0420": "P", "\u0406": "I", "\u0425": "X",
    "\u041a": "K", "\u041c": "M", "\u0422": "T", "\u0412": "B", "\u041d": "H", "\u03bf": "o", "\u03b1": "a", "\u03b5": "e", "\u03b9": "i",
    "\u03ba": "k", "\u03bd": "v", "\u03c1": "p", "\u03c4": "t", "\u03c5": "u", "\u0399": "I", "\u039f": "O", "\u0391": "A", "\u0395": "E",
})
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})

_MIXED_SCRIPT = re.compile(r"\w+")
# Three or more single letters split by spaces, or lowercase ones split by . - _ * ("U.S.A." is an abbreviation).
_SPLIT_LETTERS = re.compile(r"(?<![^\W\d_])(?:(?:[^\W\d_] ){2,}[^\W\d_]|(?:[a-z][.\-_*]){2,}[a-z])(?![^\W\d_])")
_NUMBERISH = re.compile(r"^\d+(?:st|nd|rd|th|s|k|m|km|kg|am|pm|g|x|mm|cm|p)?$|^\d+[.,]?\d*%?$", re.IGNORECASE)
_LEET_TOKEN = re.compile(r"(?P<email>[\w.+-]+@[\w-]+\.[\w.]+)|[0-9A-Za-z@$!]+")  # e-mail addresses are kept as they are
_NAME_AND_NUMBER = re.compile(r"^[A-Za-z]+\d+$|^\d+[A-Za-z]+$")  # covid19, mp3, 7or (a missing space): a word and a number, not leet
_BANG_IN_WORD = re.compile(r"(?<=[a-z])!(?=[a-z])")  # sh!t; but "all!Sometimes" and "wow!!!" are punctuation


def _is_latin(ch: str) -> bool:
    return "LATIN" in unicodedata.name(ch, "")


def _fix_lookalikes(word: str) -> str:
    if any(ch.isalpha() and _is_latin(ch) for ch in word) and any(ord(ch) > 0x36F for ch in word):
        return word.translate(LOOKALIKES)
    return word


def _fix_leet(token: str) -> str:
    if token.startswith("@"):  # @USER, @name: a mention, not a leet "a"
        return token
    core = token.rstrip("!")  # "wow!!" ends in exclamation marks, not leet
    tail = token[len(core):]
    if "!" in core and len(_BANG_IN_WORD.findall(core)) != core.count("!"):
        return token
    letters = sum(ch.isalpha() for ch in core)
    if letters < (2 if len(core) < 5 else 1) or letters == len(core) or _NUMBERISH.match(core) or _NAME_AND_NUMBER.match(core):
        return token
    mapped = core.translate(LEET)
    return mapped + tail if mapped.isalpha() else token


def _join_letters(run: str) -> str:
    """'i d i o t' -> 'idiot'; a leading English one-letter word stays a word: 'a l o s e r' -> 'a loser'."""
    parts = re.split(r"[ .\-_*]", run)
    if parts[0] in ("a", "A", "I") and len(parts) > 3 and run[1] == " ":
        return parts[0] + " " + "".join(parts[1:])
    return "".join(parts)


def normalise_text(text: str, *, repair_spelling: bool = False) -> str:
    """The normalised text (idempotent; plain ASCII prose without misspelt abuse comes back unchanged)."""
    text = unicodedata.normalize("NFKC", text).translate(ZERO_WIDTH)
    text = _MIXED_SCRIPT.sub(lambda m: _fix_lookalikes(m.group(0)), text)
    text = _SPLIT_LETTERS.sub(lambda m: _join_letters(m.group(0)), text)
    text = _LEET_TOKEN.sub(lambda m: m.group(0) if m.group("email") else _fix_leet(m.group(0)), text)
    if repair_spelling:  # last: "h4et" is leet first, then a swapped "hate"
        from threadguard.spelling import repair_spelling as repair

        text = repair(text)
    return text


def normalise_comment(body: str, parent_body: str | None, *, repair_spelling: bool = False) -> tuple[str, str | None]:
    """A comment and its parent as the model sees them (the article is the publisher's text and is left as it is);
    training rows and scored comments both go through here, so both sides see the same text."""
    parent = normalise_text(parent_body, repair_spelling=repair_spelling) if parent_body else parent_body
    return normalise_text(body, repair_spelling=repair_spelling), parent
