"""Per-site review/reject thresholds, set by an admin without retraining.

A forum network runs one service for many sites. A site is named by an API key's `site`, a Perspective
`communityId` or a Coral tenant id; its thresholds override the model's, label by label. Replicas read them
from the database and cache them for `ttl` seconds, so a change reaches every replica within that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from labels.schema import LABELS, Label
from serving.model import decide
from serving.schemas import ScoreOut, ThresholdsRef
from threadguard import audit
from threadguard.artifact import LabelThresholds
from threadguard.errors import UsageError
from threadguard.tables import SiteThreshold, utcnow


@dataclass(frozen=True)
class Thresholds:
    """The thresholds that decide a comment, and where they come from (reported in every decision)."""

    values: dict[str, LabelThresholds]
    site: str | None  # None: the model's own
    overridden: tuple[str, ...]  # labels whose thresholds the site set


def set_site_threshold(session: Session, site: str, label: str, review: float, reject: float, *, actor: str) -> None:
    if label not in {l.value for l in LABELS}:
        raise UsageError(f"label must be one of {', '.join(l.value for l in LABELS)}, not {label!r}")
    if not (0 <= review <= reject <= 1):
        raise UsageError(f"thresholds need 0 <= review <= reject <= 1, got review {review} and reject {reject}")
    if not site.strip():
        raise UsageError("site must not be empty")
    row = session.scalar(select(SiteThreshold).where(SiteThreshold.site == site, SiteThreshold.label == label))
    if row is None:
        row = SiteThreshold(site=site, label=label, review=review, reject=reject, updated_by=actor)
        session.add(row)
    else:
        row.review, row.reject, row.updated_by, row.updated_at = review, reject, actor, utcnow()
    audit.record(session, actor, "thresholds.set", site, label=label, review=review, reject=reject)


def clear_site(session: Session, site: str, *, actor: str) -> int:
    removed = session.execute(delete(SiteThreshold).where(SiteThreshold.site == site)).rowcount
    audit.record(session, actor, "thresholds.clear", site, removed=removed)
    return removed


def list_sites(session: Session) -> list[SiteThreshold]:
    return list(session.scalars(select(SiteThreshold).order_by(SiteThreshold.site, SiteThreshold.label)))


class ThresholdBook:
    """Site thresholds read from the database, cached for `ttl` seconds; thread-safe."""

    def __init__(self, sessions: sessionmaker[Session], ttl: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, dict[str, LabelThresholds]] = {}
        self._loaded_at = float("-inf")
        self._lock = threading.Lock()

    def is_fresh(self) -> bool:
        return self.clock() - self._loaded_at <= self.ttl

    async def lookup(self, site: str | None, model: dict[str, LabelThresholds]) -> Thresholds:
        """for_site from the event loop: from the cache when fresh, else from the database on a worker thread."""
        if self.is_fresh():
            return self.for_site(site, model)
        from fastapi.concurrency import run_in_threadpool

        return await run_in_threadpool(self.for_site, site, model)

    def _sites(self) -> dict[str, dict[str, LabelThresholds]]:
        with self._lock:
            if self.clock() - self._loaded_at > self.ttl:
                fresh: dict[str, dict[str, LabelThresholds]] = {}
                with self.sessions() as session:
                    for row in list_sites(session):
                        fresh.setdefault(row.site, {})[row.label] = LabelThresholds(review=row.review, reject=row.reject)
                self._cache, self._loaded_at = fresh, self.clock()
            return self._cache

    def for_site(self, site: str | None, model: dict[str, LabelThresholds]) -> Thresholds:
        """The model's thresholds with the site's overrides on top."""
        overrides = self._sites().get(site, {}) if site else {}
        if not overrides:
            return Thresholds(values=model, site=None, overridden=())
        return Thresholds(values={**model, **overrides}, site=site, overridden=tuple(sorted(overrides)))


def apply_thresholds(result: ScoreOut, thresholds: Thresholds) -> ScoreOut:
    """The result decided by these thresholds (over the labels the result was judged on), saying which they are."""
    scores = {Label(label): value for label, value in result.scores.items()}
    return result.model_copy(update={"decision": decide(scores, thresholds.values, [Label(label) for label in result.decided_by()]),
                                     "thresholds": ThresholdsRef(site=thresholds.site, overridden=list(thresholds.overridden))})
