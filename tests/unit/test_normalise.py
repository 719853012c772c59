"""Normalisation undoes the usual obfuscations and leaves ordinary text alone."""

from __future__ import annotations

import pytest

from threadguard.normalise import normalise_text


@pytest.mark.parametrize(("obfuscated", "plain"), [
    ("you 1d10t", "you idiot"),
    ("you n1gg@", "you nigga"),
    ("sh!t and $hit", "shit and shit"),
    ("you i d i o t", "you idiot"),
    ("you i.d.i.o.t!", "you idiot!"),
    ("you i-d-i-o-t", "you idiot"),
    ("you \u0456d\u0456\u043et", "you idiot"),          # Cyrillic look-alikes inside a Latin word
    ("you i\u200bd\u200bi\u200bo\u200bt", "you idiot"),  # zero-width spaces
    ("ｙｏｕ ｉｄｉｏｔ", "you idiot"),                    # full-width forms (NFKC)
])
def test_obfuscations_are_undone(obfuscated: str, plain: str) -> None:
    assert normalise_text(obfuscated) == plain


@pytest.mark.parametrize("text", [
    "The 3rd vote in 2026 passed 7 to 4, a 10km route and 50% cuts.",
    "Covid19 hit mp3 sales? Wow!! Really!",
    "Москва не верит слезам",        # Russian stays Russian
    "e.g. the U.S. plan, i.e. tariffs",
    "Email me at news@example.com",
    "Plain prose with no tricks at all.",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert normalise_text(text) == text


def test_idempotent() -> None:
    once = normalise_text("you i d i o t and 1d10t \u0456d\u0456\u043et")
    assert normalise_text(once) == once


def test_mentions_are_not_leet() -> None:
    assert normalise_text("@USER you are right, @bob") == "@USER you are right, @bob"


@pytest.mark.parametrize("text", ["Proud of myself!!!!!My team won", "That was all!Sometimes it rains", "I live in the U.S.A. now", "7or 8 people came"])
def test_punctuation_and_abbreviations_in_real_comments_are_kept(text: str) -> None:
    assert normalise_text(text) == text


def test_a_one_letter_word_before_split_letters_stays_a_word_and_heavy_leet_is_read() -> None:
    assert normalise_text("What a l o s e r you are") == "What a loser you are"
    assert normalise_text("You are a complete 1d107") == "You are a complete idiot"
    assert normalise_text("a 4x4 and a 10km run") == "a 4x4 and a 10km run"
