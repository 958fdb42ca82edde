"""The cost of one delivery round's budget check: in-process, and shared through Redis.

    python -m bench.rate_limits [--candidates 50] [--rounds 2000]

A round checks and reserves the head of every chat waiting (50 private chats and a group
with its topics, say). Printed: microseconds per round in-process; with Redis as one Lua
call per round (what the worker does); and with one call per candidate (what a naive shared
limiter would cost), with the ratios. Needs `redis-server` on PATH. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bot.rate_limits import RateLimiter, RateLimits, RedisRateLimiter
from tests.redis_server import redis_server

# Budgets no round exhausts: the cost measured is the check, not a refusal.
LIMITS = RateLimits(overall_per_second=1e9, private_per_second=1e9, group_per_minute=1e9)
GROUP = -1001000000001


async def measure(candidates: int, rounds: int, url: str) -> dict[str, float]:
    chats = [GROUP] * (candidates // 5) + list(range(1, candidates - candidates // 5 + 1))
    ticks = [0.0]

    def clock() -> float:  # a clock that moves, so the windows stay small
        ticks[0] += 2.0
        return ticks[0]

    local = RateLimiter(LIMITS, clock)
    shared = RedisRateLimiter.from_url(url, LIMITS, "bench:rate", clock)
    results: dict[str, float] = {}
    try:
        for name, run in (
            ("in-process", lambda: local.reserve(chats)),
            ("redis, one script per round", lambda: shared.reserve(chats)),
        ):
            await run()
            start = time.perf_counter()
            for _ in range(rounds):
                await run()
            results[name] = (time.perf_counter() - start) / rounds * 1e6
        start = time.perf_counter()
        for _ in range(rounds // 10):
            for chat in chats:
                await shared.reserve([chat])
        results["redis, one call per candidate"] = (
            (time.perf_counter() - start) / (rounds // 10) * 1e6
        )
    finally:
        await shared.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, redis_server(Path(directory)) as url:
        results = asyncio.run(measure(args.candidates, args.rounds, url))
    base = results["in-process"]
    print(f"{args.candidates} candidates per round, {args.rounds} rounds")
    for name, micros in results.items():
        print(f"  {name}: {micros:.0f} µs per round ({micros / base:.1f}× in-process)")


if __name__ == "__main__":
    main()
