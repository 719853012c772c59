"""bench.spelling_repair refuses a dir that does not normalise: repair is a normalisation step, so off and on would be equal."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadguard.errors import UsageError


def test_a_dir_without_normalisation_is_refused_before_any_scoring(tiny_model_dir: Path) -> None:
    from bench.spelling_repair import main

    with pytest.raises(UsageError, match="does not normalise"):
        main(tiny_model_dir)
