"""GET /healthz (the process answers) and GET /readyz (the model is loaded)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """200 while the process serves HTTP."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """200 once the model is loaded, 503 before."""
    models = request.app.state.models
    if models.live is None:
        return JSONResponse({"status": "loading"}, status_code=503)
    body = {"status": "ready", "model": {"name": models.live.name, "version": models.live.version, "device": models.live.device}}
    if models.shadow is not None:
        body["shadow"] = {"name": models.shadow.name, "version": models.shadow.version}
    return JSONResponse(body)
