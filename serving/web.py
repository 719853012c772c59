"""Browser sessions for the moderator page: a signed session cookie, double-submit CSRF tokens, role checks.

The session cookie is signed with a secret kept in the database (shared by every replica) and holds the
user's name and login time (undo reaches back to it); the role is looked up on every request. Every form post carries a `csrf` field that
must equal the `tg_csrf` cookie; a cross-site page can make the browser send the cookie but cannot read it
to put it in the form.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from serving.accounts import Role
from serving.problems import problem_exception
from threadguard.tables import User

SESSION_COOKIE = "tg_session"
CSRF_COOKIE = "tg_csrf"
SESSION_MAX_AGE = 12 * 3600


@dataclass(frozen=True)
class WebUser:
    name: str
    role: Role
    login_at: dt.datetime


class LoginRequired(Exception):
    """No valid session: the page redirects to /login (or /setup on a fresh install)."""


def signer(request: Request) -> URLSafeTimedSerializer:
    return request.app.state.session_signer


def start_session(request: Request, response: Response, name: str) -> None:
    token = signer(request).dumps({"name": name, "login_at": dt.datetime.now(dt.UTC).isoformat()})
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_MAX_AGE, httponly=True, samesite="lax",
                        secure=request.app.state.settings.secure_cookies)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)


def current_user(request: Request) -> WebUser:
    """The signed-in user; the role is read from the database, so a removed or demoted user loses access at once."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise LoginRequired
    try:
        data = signer(request).loads(raw, max_age=SESSION_MAX_AGE)
        name, login_at = data["name"], dt.datetime.fromisoformat(data["login_at"])
    except (BadSignature, KeyError, ValueError) as exc:
        raise LoginRequired from exc
    with request.app.state.sessions() as session:
        role = session.scalar(select(User.role).where(User.name == name))
    if role is None:
        raise LoginRequired
    return WebUser(name, Role(role), login_at)


def require_admin(user: Annotated[WebUser, Depends(current_user)]) -> WebUser:
    if user.role != Role.admin:
        raise problem_exception(403, ["session"], "admins only", "forbidden")
    return user


def csrf_token(request: Request) -> str:
    """The browser's CSRF token (from its cookie), or a new one that ensure_csrf_cookie will set."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return token


def ensure_csrf_cookie(request: Request, response: Response) -> None:
    new = getattr(request.state, "new_csrf", None)
    if new:
        response.set_cookie(CSRF_COOKIE, new, httponly=False, samesite="strict", secure=request.app.state.settings.secure_cookies)


def check_csrf(request: Request, submitted: str | None) -> None:
    """403 unless the submitted token equals the CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted or not secrets.compare_digest(cookie, submitted):
        raise problem_exception(403, ["body", "csrf"], "missing or wrong CSRF token; reload the page", "csrf")


UserDep = Annotated[WebUser, Depends(current_user)]
AdminDep = Annotated[WebUser, Depends(require_admin)]
