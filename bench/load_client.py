"""Closed-loop HTTP load from its own process: `concurrency` workers, each sending its next request as soon as the
last one is answered, for `seconds` after a warm-up. Prints one JSON object: requests, comments, errors, latencies
and, beside each latency, the index of the request's first comment.

The client is aiohttp: with httpx, the client's own connection pool took 4.4 ms of CPU per request at concurrency 32
and 12.7 ms at 64 (0.7 of a core), on the 2 cores the service shares with it; aiohttp takes about 0.4 ms
(docs/benchmarks.md, "load").

Run by bench.load; by hand: .venv/bin/python -m bench.load_client URL COMMENTS.jsonl --concurrency 8 --batch 1 --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp


async def _run(url: str, comments: list[dict], concurrency: int, batch: int, seconds: float, warmup: float, key: str | None = None) -> dict:
    latencies: list[float] = []
    firsts: list[int] = []
    errors: dict[str, int] = {}
    sent = {"requests": 0, "comments": 0}
    last = {"done": 0.0}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=60)) as client:
        started = time.perf_counter()
        measure_from = started + warmup
        stop_at = measure_from + seconds

        async def worker(offset: int) -> None:
            i = offset * batch
            while time.perf_counter() < stop_at:
                first = i % len(comments)
                chunk = [comments[(i + k) % len(comments)] for k in range(batch)]
                i += batch * concurrency
                body = chunk[0] if batch == 1 else {"comments": chunk}
                t0 = time.perf_counter()
                try:
                    async with client.post(url, json=body) as response:
                        await response.read()
                        status = str(response.status)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    status = type(exc).__name__
                t1 = time.perf_counter()
                if t0 < measure_from:
                    continue  # warm-up requests are not counted
                if status != "200":
                    errors[status] = errors.get(status, 0) + 1
                    continue
                latencies.append(t1 - t0)
                firsts.append(first)
                last["done"] = max(last["done"], t1)
                sent["requests"] += 1
                sent["comments"] += batch

        await asyncio.gather(*(worker(k) for k in range(concurrency)))
    # Requests started inside the window are counted when they finish, so the window ends at the last answer.
    elapsed = max(stop_at, last["done"]) - measure_from
    return {"concurrency": concurrency, "batch": batch, "seconds": elapsed, **sent, "errors": errors, "latencies": latencies, "firsts": firsts}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("comments", type=Path)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--key", help="an API key, sent as Authorization: Bearer KEY")
    args = parser.parse_args()
    comments = [json.loads(line) for line in args.comments.read_text().splitlines()]
    print(json.dumps(asyncio.run(_run(args.url, comments, args.concurrency, args.batch, args.seconds, args.warmup, args.key))))


if __name__ == "__main__":
    main()
