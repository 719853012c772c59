"""configure_logging(level, json), called once by the CLI and create_app; logs go to stderr."""

from __future__ import annotations

import json
import logging
import sys

ACCESS_FIELDS = ("request_id", "method", "path", "status", "ms")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ACCESS_FIELDS:  # access-log fields passed with extra= become JSON fields of their own
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def configure_logging(level: str = "INFO", *, json_format: bool = False) -> None:
    """Send threadguard's logs to stderr (stdout is reserved for command output)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if json_format else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
