"""A shadow model scores the traffic the live model decides, off the request path, and counts how often they agree.

Shadow scoring runs on its own thread after the live results are sent, so it costs CPU but no latency. When
more than `backlog` comments are waiting for it, new ones are skipped (and counted) rather than queued without
bound: the agreement rate stays an honest sample, and a slow candidate cannot exhaust memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from serving.linear import HasContext
from serving.model import Scorer
from serving.schemas import ScoreOut

log = logging.getLogger(__name__)

Compare = Callable[[Scorer, int, int], None]  # (shadow, agreed, compared)
Skip = Callable[[int], None]


class ShadowRunner:
    def __init__(self, *, backlog: int, on_compared: Compare, on_skipped: Skip) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tg-shadow")
        self._backlog = backlog
        self._waiting = 0
        self._lock = threading.Lock()
        self._on_compared = on_compared
        self._on_skipped = on_skipped

    def offer(self, shadow: Scorer | None, items: Sequence[HasContext], live: Sequence[ScoreOut]) -> None:
        """Queue the items for the shadow model, unless there is none or the backlog is full."""
        if shadow is None or not items:
            return
        with self._lock:
            if self._waiting + len(items) > self._backlog:
                self._on_skipped(len(items))
                return
            self._waiting += len(items)
        self._executor.submit(self._compare, shadow, list(items), [r.decision for r in live])

    def _compare(self, shadow: Scorer, items: list[HasContext], decisions: list) -> None:  # type: ignore[type-arg]
        try:
            scored = shadow.score(items)
            agreed = sum(s.decision == d for s, d in zip(scored, decisions, strict=True))
            self._on_compared(shadow, agreed, len(items))
        except Exception:  # a failing shadow is the candidate's problem, never the live service's
            log.exception("shadow model %s failed to score", shadow.name)
        finally:
            with self._lock:
                self._waiting -= len(items)

    def drain(self) -> None:
        """Wait for queued shadow work (tests, shutdown)."""
        self._executor.submit(lambda: None).result()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
