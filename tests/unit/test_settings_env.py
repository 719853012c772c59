"""A malformed THREADGUARD_* variable is one CLI line naming it, not pydantic's report."""

from __future__ import annotations

import pytest

from threadguard.errors import ConfigError
from threadguard.settings import get_settings


@pytest.mark.parametrize(("variable", "value", "says"), [("THREADGUARD_INT8_PRECISION", "maybe", "valid boolean"), ("THREADGUARD_PORT", "abc", "valid integer")])
def test_a_malformed_setting_is_a_config_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError) as raised:
            get_settings()
    finally:
        get_settings.cache_clear()
    message = str(raised.value)
    assert message.startswith(f"{variable}: ") and says in message and repr(value) in message and "\n" not in message


def test_a_valid_setting_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADGUARD_INT8_PRECISION", "false")
    get_settings.cache_clear()
    try:
        assert get_settings().int8_precision is False
    finally:
        get_settings.cache_clear()
