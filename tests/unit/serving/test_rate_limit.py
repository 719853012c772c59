"""Token bucket per API key."""

from __future__ import annotations

from serving.rate_limit import RateLimiter, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_gets_its_burst_then_waits_for_a_refill() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)  # one a second, bursts of 60
    assert all(limiter.take("forum") == 0 for _ in range(60))
    wait = limiter.take("forum")
    assert 0.99 <= wait <= 1.0
    clock.now += 1.0
    assert limiter.take("forum") == 0
    assert limiter.take("forum") > 0


def test_keys_have_separate_buckets() -> None:
    limiter = RateLimiter(2, clock=Clock())
    assert limiter.take("a") == 0 and limiter.take("a") == 0 and limiter.take("a") > 0
    assert limiter.take("b") == 0


def test_zero_means_no_limit() -> None:
    limiter = RateLimiter(0)
    assert not limiter.enabled and all(limiter.take("x") == 0 for _ in range(10_000))


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_header(0.2) == "1" and retry_after_header(29.01) == "30"
