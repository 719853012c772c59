"""ThreadguardError and its few subclasses; messages say what was expected and what was found."""

from __future__ import annotations

from pathlib import Path


class ThreadguardError(Exception):
    """Base class for every error threadguard reports to a user."""

    exit_code = 1


class UsageError(ThreadguardError):
    """Bad input or usage from the command line (exit 2)."""

    exit_code = 2


class ParseError(UsageError):
    """A malformed input file: carries the file and 1-based line."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        super().__init__(f"{self.path}:{line}: {message}")


class ConfigError(UsageError):
    """A training config that is missing, unreadable or has wrong keys."""


class ArtifactError(ThreadguardError):
    """A model directory that is missing files or holds invalid contents."""


class DataError(ThreadguardError):
    """A corpus that cannot be found or read, or a rule about data use was broken."""
