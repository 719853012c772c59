"""The models a replica serves, and the watcher that keeps them in step with the database's assignments.

A swap never drops a request: the new model is loaded and warmed beside the old one, then one attribute
assignment makes it live. A pool already being scored keeps the scorer it started with, and every result
names the model that scored it. A dir that fails to load or warm is logged and counted, and the old model
keeps serving; the watcher does not retry that assignment until a newer one is recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from serving import assignments
from serving.assignments import Assignment
from serving.model import Scorer, warmed

log = logging.getLogger(__name__)

Loader = Callable[[Path], Scorer]


@dataclass
class ModelSlots:
    """The live model (answers and decides) and an optional shadow (scores the same traffic, decides nothing)."""

    live: Scorer | None = None
    shadow: Scorer | None = None


class ModelWatcher:
    """Polls the newest live/shadow assignments every `poll_seconds` (or at once on wake()) and swaps to match."""

    def __init__(self, slots: ModelSlots, sessions: sessionmaker[Session], load: Loader, *, poll_seconds: float,
                 on_swap: Callable[[str, Scorer | None, Scorer | None], None] | None = None,
                 on_failure: Callable[[str, Assignment, Exception], None] | None = None) -> None:
        self.slots = slots
        self.sessions = sessions
        self.load = load
        self.poll_seconds = poll_seconds
        self.on_swap = on_swap or (lambda _role, _old, _new: None)
        self.on_failure = on_failure or (lambda _role, _a, _e: None)
        self._seen: dict[str, int] = {}
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Check now (SIGHUP, or after `models activate` on this process)."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.check()
            except Exception:  # the database briefly down must not stop the watcher; the next poll retries
                log.exception("checking the model assignments failed")

    async def check(self) -> None:
        """Bring the live and shadow slots in line with the newest assignments."""
        live, shadow = await run_in_threadpool(self._read)
        if live is not None and self._seen.get(assignments.LIVE) != live.id:
            self._seen[assignments.LIVE] = live.id
            current = self.slots.live
            if current is None or live.path is None or _same_dir(current, live.path):
                if current is not None and live.path is not None:
                    log.info("model %s is already live", current.name)
            else:
                new = await self._load(assignments.LIVE, live)
                if new is not None:
                    self.slots.live = new
                    self.on_swap(assignments.LIVE, current, new)
                    log.info("swapped live model %s (%s) -> %s (%s)", current.name, current.version, new.name, new.version)
        if shadow is not None and self._seen.get(assignments.SHADOW) != shadow.id:
            self._seen[assignments.SHADOW] = shadow.id
            current = self.slots.shadow
            if shadow.path is None:
                self.slots.shadow = None
                if current is not None:
                    self.on_swap(assignments.SHADOW, current, None)
                    log.info("shadow model %s switched off", current.name)
            elif current is None or not _same_dir(current, shadow.path):
                new = await self._load(assignments.SHADOW, shadow)
                if new is not None:
                    self.slots.shadow = new
                    self.on_swap(assignments.SHADOW, current, new)
                    log.info("shadow model %s (%s) scores live traffic", new.name, new.version)

    def _read(self) -> tuple[Assignment | None, Assignment | None]:
        with self.sessions() as session:
            return assignments.latest(session, assignments.LIVE), assignments.latest(session, assignments.SHADOW)

    async def _load(self, role: str, wanted: Assignment) -> Scorer | None:
        try:
            return await run_in_threadpool(lambda: warmed(self.load(wanted.path)))  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 -- ArtifactError for a broken dir; anything else must not take the old model down either
            log.error("refused %s model %s, the current one keeps serving: %s", role, wanted.path, exc)
            self.on_failure(role, wanted, exc)
            return None


def _same_dir(scorer: Scorer, path: Path) -> bool:
    return scorer.model_dir.path.resolve() == path.resolve()
