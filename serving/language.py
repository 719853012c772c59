"""Which language a comment appears to be in (py3langid, whose model ships inside the package).

The models are trained on English only. A comment that language ID places in another language with at least
`min_confidence` is marked `reliable: false` in the response instead of being scored silently. Short or
ambiguous texts ("lol", "ok") get a low confidence and stay presumed English: a forum's one-word replies
must not all be flagged. The candidate set is limited to widely used languages, which sharpens the
probabilities on short comments (without it, "You are a dope" is only 0.85 English).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

ENGLISH = "en"
CANDIDATES = ("en", "de", "fr", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl", "cs", "ro", "hu", "el", "ru", "uk",
              "tr", "ar", "he", "hi", "zh", "ja", "ko", "id", "vi")


@dataclass(frozen=True)
class LanguageGuess:
    code: str
    confidence: float
    english: bool  # false only when another language is at least min_confidence sure


class LanguageIdentifier:
    """Thread-safe after construction; the model (about 1 s to load) is loaded on first use."""

    def __init__(self, min_confidence: float = 0.8) -> None:
        self.min_confidence = min_confidence

    @cached_property
    def _model(self):  # type: ignore[no-untyped-def]
        from py3langid.langid import MODEL_FILE
        from py3langid.langid import LanguageIdentifier as Model

        model = Model.from_model_file(MODEL_FILE, norm_probs=True)
        model.set_languages(list(CANDIDATES))
        return model

    def guess(self, text: str) -> LanguageGuess:
        code, confidence = self._model.classify(text)
        confidence = round(float(confidence), 4)
        return LanguageGuess(code=str(code), confidence=confidence, english=code == ENGLISH or confidence < self.min_confidence)
