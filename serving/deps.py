"""get_settings / get_scorer + Annotated aliases for route signatures."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from serving.model import Scorer
from threadguard.settings import Settings


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with (create_app's argument, not a global)."""
    return request.app.state.settings


def get_scorer(request: Request) -> Scorer:
    """The loaded model; 503 until the lifespan has loaded it."""
    scorer = getattr(request.app.state, "scorer", None)
    if scorer is None:
        raise HTTPException(status_code=503, detail=[{"loc": ["model"], "msg": "model not loaded yet", "type": "not_ready"}])
    return scorer


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ScorerDep = Annotated[Scorer, Depends(get_scorer)]
