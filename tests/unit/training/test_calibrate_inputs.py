"""Calibration is fitted on the text the served model sees: normalised when the model was trained normalised."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from labels.schema import LabelledComment
from serving.model import HasContext, Scorer
from threadguard.normalise import normalise_comment
from training.pipeline import calibrate

OBFUSCATED = ["you are an id\u200biot", "ｙｏｕ ａｒｅ ａ ｃｌｏｗｎ", "thanks for the article", "st\u200bupid take, you m0r0n"]


class RecordingBackend:
    """Logits 2 for an insult, -2 otherwise; remembers every body it was given."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.temperatures = np.ones(3, dtype=np.float32)
        self.biases = np.zeros(3, dtype=np.float32)

    def logits(self, items: Sequence[HasContext], *, windows: bool | None = None) -> np.ndarray:
        self.seen += [item.body for item in items]
        self.windows = windows
        return np.array([[0.0, 2.0 if i % 2 == 0 else -2.0, 0.0] for i in range(len(items))], dtype=np.float32)


def rows() -> list[LabelledComment]:
    return [
        LabelledComment(id=f"r{i}", source="t", split="validation", thread_id="t1", body=body, hate=0, insult=int(i != 2), off_topic=0)
        for i, body in enumerate(OBFUSCATED)
    ]


@pytest.mark.parametrize("normalise", [True, False])
def test_calibration_sees_the_text_the_scorer_serves(normalise: bool) -> None:
    backend = RecordingBackend()
    scorer = Scorer(None, backend, "cpu", normalise=normalise)  # type: ignore[arg-type]  # calibrate never reads the model dir
    report = calibrate(scorer, rows())
    expected = [normalise_comment(body, None)[0] for body in OBFUSCATED] if normalise else OBFUSCATED
    assert backend.seen == expected
    assert backend.windows is False  # fitted on first windows: the later windows' gate needs the calibration
    if normalise:
        assert expected != OBFUSCATED  # the cases do change under normalisation
    assert set(report) == {"hate", "insult", "off_topic"}
    assert backend.temperatures.tolist() == [report[k]["temperature"] for k in ("hate", "insult", "off_topic")]
