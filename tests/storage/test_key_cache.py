"""The scoring path's API-key cache: valid keys cached for ttl, unknown keys and the open mode never cached."""

from __future__ import annotations

from serving.accounts import create_api_key, revoke_api_key
from serving.key_cache import KeyBook


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_valid_keys_are_cached_and_a_revoked_one_expires_after_ttl(sessions) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    book = KeyBook(sessions, ttl=5, clock=clock)
    assert book.peek("tg_anything") is None and not book.load("tg_anything").any_keys  # open mode: asked every time
    assert book.peek("tg_anything") is None
    with sessions() as session:
        key = create_api_key(session, "forum", actor="test", site="forum-a")
        session.commit()
    assert book.load("tg_unknown").caller is None and book.peek("tg_unknown") is None  # unknown keys are never cached
    loaded = book.load(key)
    assert loaded.any_keys and loaded.caller is not None and (loaded.caller.name, loaded.caller.site) == ("forum", "forum-a")
    assert book.peek(key) == loaded
    with sessions() as session:
        revoke_api_key(session, "forum", actor="test")
        session.commit()
    clock.now += 4.9
    assert book.peek(key) == loaded  # within ttl the cached answer stands (documented: up to ttl seconds)
    clock.now += 0.2
    assert book.peek(key) is None and book.load(key).caller is None


def test_ttl_zero_turns_the_cache_off(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        key = create_api_key(session, "forum", actor="test")
        session.commit()
    book = KeyBook(sessions, ttl=0)
    assert book.load(key).caller is not None and book.peek(key) is None
