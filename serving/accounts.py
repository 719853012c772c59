"""Users (argon2 passwords, roles), scoring-API keys (stored as SHA-256), and secrets shared by every replica."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from threadguard.audit import record
from threadguard.errors import UsageError
from threadguard.tables import ApiKey, AppSecret, User

KEY_PREFIX = "tg_"
SESSION_SECRET = "session_secret"
SETUP_TOKEN = "setup_token"
MIN_PASSWORD = 8

_hasher = PasswordHasher()


class Role(StrEnum):
    """moderators see and decide; admins also manage users, keys, thresholds and models."""

    moderator = "moderator"
    admin = "admin"


def add_user(session: Session, name: str, password: str, role: Role, *, actor: str) -> User:
    """Create a user; a taken name or a short password is a UsageError (one line, exit 2 from the CLI)."""
    name = name.strip()
    if not name:
        raise UsageError("user name must not be empty")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"password must be at least {MIN_PASSWORD} characters")
    if session.scalar(select(User).where(User.name == name)):
        raise UsageError(f"user {name!r} already exists")
    user = User(name=name, role=role.value, password_hash=_hasher.hash(password))
    session.add(user)
    record(session, actor, "user.add", name, role=role.value)
    try:
        session.flush()
    except IntegrityError as exc:  # another process added the same name between the check and the insert
        raise UsageError(f"user {name!r} already exists") from exc
    return user


def authenticate(session: Session, name: str, password: str) -> User | None:
    """The user if the password matches, else None (same answer for an unknown name)."""
    user = session.scalar(select(User).where(User.name == name.strip()))
    if user is None:
        _hasher.hash(password)  # spend the same time as a real check, so names cannot be probed by timing
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, name: str, *, actor: str, site: str | None = None) -> str:
    """A new random key; only its hash is stored, so this is the one time it can be shown. `site` names whose thresholds decide its requests."""
    if session.scalar(select(ApiKey).where(ApiKey.name == name)):
        raise UsageError(f"an API key named {name!r} already exists")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, prefix=key[:10], key_sha256=key_sha256(key), site=site or None))
    record(session, actor, "key.create", name, site=site)
    session.flush()
    return key


def revoke_api_key(session: Session, name: str, *, actor: str) -> None:
    key = session.scalar(select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None)))
    if key is None:
        raise UsageError(f"no active API key named {name!r}")
    key.revoked_at = func.now()
    record(session, actor, "key.revoke", name)


def any_api_keys(session: Session) -> bool:
    """Whether the database holds any key at all (while it holds none, the scoring API is open)."""
    return session.scalar(select(func.count()).select_from(ApiKey)) > 0


def check_api_key(session: Session, key: str) -> ApiKey | None:
    """The active key row matching `key`, else None."""
    return session.scalar(select(ApiKey).where(ApiKey.key_sha256 == key_sha256(key), ApiKey.revoked_at.is_(None)))


def shared_secret(session: Session, name: str) -> str:
    """A random secret created once and shared by every replica through the database."""
    row = session.get(AppSecret, name)
    if row is None:
        session.add(AppSecret(name=name, value=secrets.token_urlsafe(32)))
        try:
            session.commit()
        except IntegrityError:  # another replica created it first
            session.rollback()
        row = session.get(AppSecret, name)
    assert row is not None
    return row.value


def consume_setup_token(session: Session, token: str) -> bool:
    """True (and the token is gone) if it is the setup token and no user exists yet."""
    row = session.get(AppSecret, SETUP_TOKEN)
    if row is None or count_users(session) > 0 or not secrets.compare_digest(row.value, token):
        return False
    session.delete(row)
    return True
