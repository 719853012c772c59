"""MicroBatcher: concurrent requests share pools, results go back in order, errors reach every caller."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from serving.batcher import MicroBatcher


def _doubler(pools: list[list[int]], delay: float = 0.0):  # type: ignore[no-untyped-def]
    def run(items: list[int]) -> list[int]:
        pools.append(list(items))
        time.sleep(delay)
        return [2 * x for x in items]

    return run


async def _with_batcher(batcher: MicroBatcher, body):  # type: ignore[no-untyped-def]
    batcher.start()
    try:
        return await body()
    finally:
        await batcher.stop()


def test_concurrent_requests_are_scored_in_one_pool_and_answered_in_order() -> None:
    pools: list[list[int]] = []
    batcher: MicroBatcher[int, int] = MicroBatcher(_doubler(pools), max_comments=64, max_wait=0.2)

    async def body():  # type: ignore[no-untyped-def]
        return await asyncio.gather(*(batcher.submit([i, 100 + i]) for i in range(10)))

    results = asyncio.run(_with_batcher(batcher, body))
    assert results == [[2 * i, 200 + 2 * i] for i in range(10)]
    assert len(pools) == 1 and len(pools[0]) == 20


def test_a_pool_never_exceeds_max_comments_and_a_big_request_runs_alone() -> None:
    pools: list[list[int]] = []
    batcher: MicroBatcher[int, int] = MicroBatcher(_doubler(pools, delay=0.05), max_comments=8, max_wait=0.05)

    async def body():  # type: ignore[no-untyped-def]
        small = [batcher.submit([i]) for i in range(20)]
        big = batcher.submit(list(range(1000, 1030)))
        return await asyncio.gather(*small, big)

    results = asyncio.run(_with_batcher(batcher, body))
    assert results[:20] == [[2 * i] for i in range(20)]
    assert results[20] == [2 * x for x in range(1000, 1030)]
    assert [len(p) for p in pools if len(p) != 30] and all(len(p) <= 8 for p in pools if len(p) != 30)
    assert sum(len(p) for p in pools) == 50


def test_a_request_arriving_while_a_pool_is_scored_waits_at_most_max_wait() -> None:
    """Not idle, so it waits for company, but no longer than max_wait: the pool goes out unfilled."""
    release = threading.Event()

    def run(items: list[int]) -> list[int]:
        if items == [0]:
            release.wait(5)  # the first pool stays in flight until the second has been answered
        return [2 * x for x in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(run, max_comments=64, max_wait=0.05, workers=2)

    async def body():  # type: ignore[no-untyped-def]
        first = asyncio.ensure_future(batcher.submit([0]))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        result = await batcher.submit([1])
        seconds = time.monotonic() - started
        release.set()
        await first
        return result, seconds

    result, seconds = asyncio.run(_with_batcher(batcher, body))
    assert result == [2] and 0.04 <= seconds < 0.5


def test_scoring_runs_off_the_event_loop_thread() -> None:
    threads: list[int] = []

    def run(items: list[int]) -> list[int]:
        threads.append(threading.get_ident())
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(run, max_comments=4, max_wait=0.0)

    async def body():  # type: ignore[no-untyped-def]
        await batcher.submit([1])
        return threading.get_ident()

    loop_thread = asyncio.run(_with_batcher(batcher, body))
    assert threads and threads[0] != loop_thread


def test_an_error_reaches_every_request_of_the_pool_and_the_next_pool_still_runs() -> None:
    calls = {"n": 0}

    def run(items: list[int]) -> list[int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("model exploded")
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(run, max_comments=64, max_wait=0.1)

    async def body():  # type: ignore[no-untyped-def]
        first = await asyncio.gather(batcher.submit([1]), batcher.submit([2]), return_exceptions=True)
        second = await batcher.submit([3])
        return first, second

    first, second = asyncio.run(_with_batcher(batcher, body))
    assert all(isinstance(e, ValueError) for e in first) and second == [3]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        MicroBatcher(lambda items: items, max_comments=0, max_wait=0.01)


def test_with_the_default_settings_the_next_pool_scores_while_one_is_running() -> None:
    """Under load, a pool's responses go out and the next requests are parsed on the event loop while the other
    worker keeps a core busy; with one worker the cores idled in between (docs/benchmarks.md, "load")."""
    from threadguard.settings import Settings

    both_running = threading.Barrier(2, timeout=5)  # broken (an error) unless two pools run at once

    def run(items: list[int]) -> list[int]:
        both_running.wait()
        return items

    settings = Settings()
    batcher: MicroBatcher[int, int] = MicroBatcher(run, max_comments=1, max_wait=settings.batch_max_wait_ms / 1000,
                                                   workers=settings.inference_workers)

    async def body():  # type: ignore[no-untyped-def]
        return await asyncio.gather(batcher.submit([1]), batcher.submit([2]))

    assert asyncio.run(_with_batcher(batcher, body)) == [[1], [2]]


def test_a_request_on_an_idle_batcher_is_scored_at_once() -> None:
    pools: list[list[int]] = []
    batcher: MicroBatcher[int, int] = MicroBatcher(_doubler(pools), max_comments=64, max_wait=2.0)

    async def body():  # type: ignore[no-untyped-def]
        started = time.monotonic()
        result = await batcher.submit([1])
        return result, time.monotonic() - started

    result, seconds = asyncio.run(_with_batcher(batcher, body))
    assert result == [2] and seconds < 1.0


def test_requests_arriving_while_a_pool_is_scored_wait_to_fill_the_next_pool() -> None:
    pools: list[list[int]] = []
    release = threading.Event()

    def run(items: list[int]) -> list[int]:
        pools.append(list(items))
        if items == [0]:
            release.wait(5)
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(run, max_comments=64, max_wait=0.3, workers=2)

    async def body():  # type: ignore[no-untyped-def]
        first = asyncio.ensure_future(batcher.submit([0]))
        while not pools:
            await asyncio.sleep(0.01)
        later = []
        for i in range(1, 4):  # arrive one by one, 20 ms apart, while the first pool is scored
            later.append(asyncio.ensure_future(batcher.submit([i])))
            await asyncio.sleep(0.02)
        answers = await asyncio.gather(*later)
        release.set()
        return await first, answers

    first, answers = asyncio.run(_with_batcher(batcher, body))
    assert first == [0] and answers == [[1], [2], [3]]
    assert pools == [[0], [1, 2, 3]]
