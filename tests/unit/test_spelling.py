"""Spelling repair undoes misspelt abuse and never turns another word into abuse."""

from __future__ import annotations

import pytest

from threadguard.normalise import normalise_comment, normalise_text
from threadguard.spelling import ABUSE_WORDS, REPAIR_TARGETS, repair_spelling


@pytest.mark.parametrize(("misspelt", "meant"), [
    ("I haet them.", "I hate them."),                      # two neighbours swapped
    ("so much hatrd for them", "so much hatred for them"),  # a letter dropped: hated is one edit away too, hatred holds every letter
    ("you idoit", "you idiot"),
    ("what a stupd mroon", "what a stupid moron"),
    ("Ihate them", "I hate them"),                          # run together with "I", not "hate" with an added letter
    ("so muchdisdain", "so much disdain"),
    ("Idoit!", "Idiot!"),                                   # the case it was written in
    ("IDOIT", "IDIOT"),
    ("IHATE THEM", "I HATE THEM"),
])
def test_misspelt_abuse_is_repaired(misspelt: str, meant: str) -> None:
    assert repair_spelling(misspelt) == meant


@pytest.mark.parametrize("text", [
    "The hater said hi to his mate over a spice rack.",   # English words are never touched
    "New Nikes for Mr Ching at the haute couture show.",  # a changed letter would make slurs and "hate" of them
    "Louisville ville hatt",                              # an added or changed letter is not repaired
    "wigger",                                             # nor a changed first letter
    "I hte them",                                         # under four letters: too many words are one edit away
    "Fauci on covid and the libtards",                    # names and slang not one edit from an abuse word
    "bitchute faggotry muscum",                           # an abuse word plus a fragment is not split
    "a nigga and some ragheads",                          # an abuse word outside the English list is left as written
    "kiks chik",                                          # short slurs sit too close to other words to be targets
])
def test_other_words_are_left_alone(text: str) -> None:
    assert repair_spelling(text) == text


def test_short_slurs_are_words_but_not_targets() -> None:
    assert {"kikes", "chink"} <= ABUSE_WORDS and not {"kikes", "chink"} & REPAIR_TARGETS


def test_repair_is_idempotent() -> None:
    once = repair_spelling("I haet them, you idoit, Ihate this muchdisdain")
    assert once == "I hate them, you idiot, I hate this much disdain"
    assert repair_spelling(once) == once


def test_repair_is_a_normalisation_step_that_is_off_unless_asked() -> None:
    assert normalise_text("I h4et them") == "I haet them"  # leet undone, spelling left as written
    assert normalise_text("I h4et them", repair_spelling=True) == "I hate them"  # leet first, then the swap
    assert normalise_comment("you idoit", "I haet them", repair_spelling=True) == ("you idiot", "I hate them")
    assert normalise_comment("you idoit", None, repair_spelling=True) == ("you idiot", None)
