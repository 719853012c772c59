"""API-key lookups for the scoring path, cached so a busy service does not query the database on every request.

Only answers that cannot surprise are cached: "keys exist" and "this key is valid (name, site)", each for `ttl`
seconds. An unknown key, or a service with no keys yet (the open quick start), is looked up every time, so a key
created a moment ago works at once and the API closes as soon as the first key exists. A revoked key keeps working
for at most `ttl` seconds on each replica (THREADGUARD_API_KEY_CACHE_SECONDS, 5 by default; 0 turns caching off).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from serving.accounts import any_api_keys, check_api_key, key_sha256


@dataclass(frozen=True)
class Caller:
    """Who is calling the API: the key's name ("anonymous" while no key exists) and the site whose thresholds apply."""

    name: str
    site: str | None = None


ANONYMOUS = Caller("anonymous")


@dataclass(frozen=True)
class KeyState:
    any_keys: bool
    caller: Caller | None  # None: no key given, or an unknown or revoked one


class KeyBook:
    MAX_ENTRIES = 10_000

    def __init__(self, sessions: sessionmaker[Session], ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self.clock = clock
        self._keys_seen_at: float | None = None
        self._valid: dict[str, tuple[Caller, float]] = {}
        self._lock = threading.Lock()

    def peek(self, key: str | None) -> KeyState | None:
        """The cached answer, or None when the database must be asked (see load)."""
        if self.ttl <= 0 or key is None:
            return None
        now = self.clock()
        with self._lock:
            if self._keys_seen_at is None or now - self._keys_seen_at > self.ttl:
                return None
            hit = self._valid.get(key_sha256(key))
        if hit is None or now - hit[1] > self.ttl:
            return None
        return KeyState(True, hit[0])

    def load(self, key: str | None) -> KeyState:
        """Ask the database (blocking: call from a worker thread) and remember what may be cached."""
        with self.sessions() as session:
            keys_exist = any_api_keys(session)
            row = check_api_key(session, key) if keys_exist and key else None
            caller = Caller(row.name, row.site) if row is not None else None
        now = self.clock()
        with self._lock:
            self._keys_seen_at = now if keys_exist else None
            if caller is not None and key:
                if len(self._valid) >= self.MAX_ENTRIES:
                    self._valid.clear()
                self._valid[key_sha256(key)] = (caller, now)
        return KeyState(keys_exist, caller)
