"""Dynamic batching: comments from concurrent requests are pooled and scored in one call off the event loop.

A request's comments join a queue; a collector takes waiting requests until `max_comments` comments are
pooled or the oldest has waited `max_wait` seconds, and hands the pool to a worker thread. While a pool is
being scored the next one fills, so under load pools are full and nobody waits on the timer. A request that
finds nothing being scored and nothing else waiting goes at once: waiting would only leave the cores idle,
and a forum's comments mostly arrive one at a time (docs/benchmarks.md, "load"). The backend sorts each pool
by length and splits it into padded batches itself (serving.transformer.embed), so padding stays small
whatever order requests arrive in. A request larger than `max_comments` is scored as one pool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Pending(Generic[Item, Result]):
    items: Sequence[Item]
    future: asyncio.Future[list[Result]]
    arrived: float = field(default_factory=time.monotonic)


class MicroBatcher(Generic[Item, Result]):
    """submit(items) -> results in order; `run` is called on pools of items in worker threads."""

    def __init__(self, run: Callable[[list[Item]], list[Result]], *, max_comments: int, max_wait: float, workers: int = 1,
                 on_pool: Callable[[int], None] | None = None) -> None:
        if max_comments < 1 or workers < 1 or max_wait < 0:
            raise ValueError("max_comments and workers must be at least 1, max_wait at least 0")
        self._run = run
        self._max_comments = max_comments
        self._max_wait = max_wait
        self._on_pool = on_pool
        self._queue: asyncio.Queue[_Pending[Item, Result]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tg-infer")
        self._slots = asyncio.Semaphore(workers)
        self._collector: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._collector is None:
            self._collector = asyncio.get_running_loop().create_task(self._collect())

    async def stop(self) -> None:
        """Finish the pools being scored, fail what is still queued, release the threads."""
        if self._collector is not None:
            self._collector.cancel()
            await asyncio.gather(self._collector, return_exceptions=True)
            self._collector = None
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("the service is shutting down"))
        self._executor.shutdown(wait=True)

    async def submit(self, items: Sequence[Item]) -> list[Result]:
        if self._collector is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(items, future))
        return await future

    async def _collect(self) -> None:
        while True:
            first = await self._queue.get()
            pool = [first]
            if not self._inflight and self._queue.empty():
                await self._launch(pool)  # idle: nothing to wait for
                continue
            size = len(first.items)
            deadline = first.arrived + self._max_wait
            while size < self._max_comments:
                if self._queue.empty():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        nxt = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    nxt = self._queue.get_nowait()
                if size + len(nxt.items) > self._max_comments:
                    # Too big to join: it opens the next pool (put back at the front would reorder; score it next).
                    await self._launch(pool)
                    pool, size, deadline = [nxt], len(nxt.items), nxt.arrived + self._max_wait
                    continue
                pool.append(nxt)
                size += len(nxt.items)
            await self._launch(pool)

    async def _launch(self, pool: list[_Pending[Item, Result]]) -> None:
        await self._slots.acquire()  # at most `workers` pools in flight; the queue keeps filling meanwhile
        task = asyncio.get_running_loop().create_task(self._score(pool))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _score(self, pool: list[_Pending[Item, Result]]) -> None:
        try:
            flat = [item for pending in pool for item in pending.items]
            if self._on_pool is not None:
                self._on_pool(len(flat))
            try:
                results = await asyncio.get_running_loop().run_in_executor(self._executor, self._run, flat)
            except Exception as exc:  # noqa: BLE001 -- every request in the pool gets the error; the collector keeps going
                for pending in pool:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                return
            start = 0
            for pending in pool:
                end = start + len(pending.items)
                if not pending.future.done():  # a caller that went away has a cancelled future
                    pending.future.set_result(results[start:end])
                start = end
        finally:
            self._slots.release()
