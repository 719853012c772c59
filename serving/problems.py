"""The one shape of every error the service answers: {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}.

FastAPI's own validation errors have this shape (serving.schemas.ErrorOut documents it in the OpenAPI schema), so
every other refusal (a missing key, a body too large, a model not loaded, a crash) is written through these helpers
and a client parses one shape whatever went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

Loc = Sequence[str | int]


def problem(loc: Loc, msg: str, kind: str) -> dict[str, Any]:
    """One problem: where (loc, e.g. ["body", "comment", "body"]), what (msg) and a stable machine-readable type."""
    return {"loc": list(loc), "msg": msg, "type": kind}


def problem_response(status: int, loc: Loc, msg: str, kind: str, *, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error response holding one problem."""
    return JSONResponse({"detail": [problem(loc, msg, kind)]}, status_code=status, headers=headers)


def problem_exception(status: int, loc: Loc, msg: str, kind: str, *, headers: Mapping[str, str] | None = None) -> HTTPException:
    """An HTTPException that the app's handler answers as one problem (raise it from a dependency or a route)."""
    return HTTPException(status_code=status, detail=[problem(loc, msg, kind)], headers=dict(headers) if headers else None)
