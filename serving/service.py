"""What /v1/score calls: dynamic batching over the live model, language ID, and the shadow model."""

from __future__ import annotations

from collections.abc import Sequence

from serving.batcher import MicroBatcher
from serving.language import LanguageIdentifier
from serving.live_models import ModelSlots
from serving.observability import ServiceMetrics
from serving.schemas import CommentIn, ScoreOut
from serving.scoring import score_rows
from serving.shadow import ShadowRunner
from threadguard.artifact import review_thresholds
from threadguard.errors import ThreadguardError
from threadguard.settings import Settings


class ModelNotReady(ThreadguardError):
    """No model is loaded yet."""


class ScoringService:
    """Pools comments across requests (MicroBatcher), scores each pool with whichever model is live when it runs."""

    def __init__(self, slots: ModelSlots, settings: Settings, metrics: ServiceMetrics, language: LanguageIdentifier) -> None:
        self.slots = slots
        self.metrics = metrics
        self.language = language
        self.shadow = ShadowRunner(backlog=settings.shadow_backlog, on_compared=metrics.observe_shadow, on_skipped=metrics.shadow_skipped.inc)
        self.batcher: MicroBatcher[CommentIn, ScoreOut] = MicroBatcher(
            self._score_pool, max_comments=settings.batch_max_comments, max_wait=settings.batch_max_wait_ms / 1000,
            workers=settings.inference_workers, on_pool=metrics.batch.observe)

    def _score_pool(self, comments: list[CommentIn]) -> list[ScoreOut]:
        scorer = self.slots.live  # read once: the whole pool is scored, and labelled, by one model
        if scorer is None:
            raise ModelNotReady("model not loaded yet")
        results = score_rows(scorer, comments, [c.id for c in comments], language=self.language)
        self.metrics.observe_scores(results, review_thresholds(scorer.thresholds))
        self.shadow.offer(self.slots.shadow, comments, results)
        return results

    async def start(self) -> None:
        self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()
        self.shadow.close()

    async def score(self, comments: Sequence[CommentIn]) -> list[ScoreOut]:
        return await self.batcher.submit(comments)
