"""Language ID marks confidently non-English comments; short or ambiguous ones stay presumed English."""

from __future__ import annotations

import pytest

from serving.language import LanguageIdentifier

IDENT = LanguageIdentifier(min_confidence=0.8)


@pytest.mark.parametrize(("text", "code"), [
    ("Das ist eine schreckliche Idee und du bist dumm", "de"),
    ("Quem votou nele é burro demais", "pt"),
    ("Dit is echt onzin van de regering", "nl"),
    ("Les tarifs vont augmenter le prix de tout", "fr"),
])
def test_other_languages_are_not_english(text: str, code: str) -> None:
    guess = IDENT.guess(text)
    assert guess.code == code and not guess.english and guess.confidence >= 0.8


@pytest.mark.parametrize("text", ["You are a dope", "Get a load of this dumb as dirt senator.", "Buy gold now!", "lol", "ok", "Yup."])
def test_english_and_short_replies_count_as_english(text: str) -> None:
    assert IDENT.guess(text).english
