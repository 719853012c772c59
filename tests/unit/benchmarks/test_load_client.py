"""bench.load_client: a closed loop that counts answered requests and comments, tells errors apart by status,
sends the API key, and leaves warm-up requests out."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bench.load_client import _run
from tests.fixtures.server import free_port


async def _drive(status: int, batch: int) -> tuple[dict, list[dict]]:
    seen: list[dict] = []

    async def score(request: web.Request) -> web.Response:
        seen.append({"auth": request.headers.get("Authorization"), "body": await request.json()})
        await asyncio.sleep(0.005)
        return web.json_response({}, status=status)

    app = web.Application()
    app.router.add_post("/v1/score", score)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        comments = [{"body": f"comment {i}"} for i in range(5)]
        result = await _run(f"http://127.0.0.1:{port}/v1/score", comments, concurrency=3, batch=batch, seconds=0.4, warmup=0.2, key="k1")
    finally:
        await runner.cleanup()
    return result, seen


def test_answered_requests_are_counted_after_the_warm_up_with_the_key_sent() -> None:
    result, seen = asyncio.run(_drive(200, batch=2))
    assert result["errors"] == {}
    assert 0 < result["requests"] < len(seen)  # warm-up requests were sent but not counted
    assert result["comments"] == 2 * result["requests"] == 2 * len(result["latencies"])
    assert all(s["auth"] == "Bearer k1" for s in seen)
    assert all(len(s["body"]["comments"]) == 2 for s in seen)


def test_failed_requests_are_counted_by_status_not_as_answers() -> None:
    result, seen = asyncio.run(_drive(503, batch=1))
    assert result["requests"] == 0 and result["latencies"] == []
    assert result["errors"]["503"] > 0 and seen[0]["body"] == {"body": "comment 0"}
