"""What one Bot API request costs in CPU: the bot's own sender against a bare aiohttp POST,
and the fake Bot API server's side of each.

Why: a burst's client message costs the desk about 2.4 requests (its copy to the group, and
for a ticket's opening its acknowledgement, topic and header card; for a follow-up to an
unanswered ticket, the engineers' "wrote again"), where a plain relay sends one. On this
machine the bot, the fake Bot API and the benchmark share two cores, so these costs set a
ceiling on `bench.ingest` that no work on recording can lift (its "at most ... msg/s"
line). This benchmark measures the per-request part alone: copyMessage from a private chat
to the support group, N times, one at a time and ten at a time, through

- the bot's outbox sender (`bot.telegram.make_bot`, attempts=1: aiogram's method model, the
  desk's JSON body and lean answer), and
- a bare `aiohttp.ClientSession.post` of the same JSON body, reading the answer as bytes,

with the fake Bot API server (tests/fake_bot_api.py) in a child process, so that each
side's CPU is its own. Prints CPU per request for each, and ours / bare.

    python -m bench.send_floor
    python -m bench.send_floor --requests 5000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp
import orjson

from bench.common import load_average, machine_summary, median, table

CLIENT = 900001
GROUP = -1009001
TOKEN = "123456:SEND-FLOOR"


def serve(pipe: Connection, sources: int) -> None:
    """The fake Bot API in this (child) process: the group, a client and their messages to
    copy; its base URL goes back through `pipe`, then its CPU seconds on each request."""
    from tests.fake_bot_api import FakeBotAPI

    async def main() -> None:
        api = FakeBotAPI(token=TOKEN)
        api.add_chat(GROUP, title="Support", is_forum=False)
        for number in range(sources):
            api.private_message(CLIENT, f"message {number} from a client")
        await api.start()
        pipe.send(api.base_url)
        loop = asyncio.get_running_loop()
        while True:
            await loop.run_in_executor(None, pipe.recv)
            pipe.send(time.process_time())

    asyncio.run(main())


@dataclass
class Cost:
    client_ms: float
    server_ms: float


Send = Callable[[int], Awaitable[None]]


async def timed(send: Send, requests: int, at_once: int, server: Connection) -> Cost:
    """CPU per request of `requests` sends, `at_once` in flight, on each side."""
    gate = asyncio.Semaphore(at_once)

    async def one(number: int) -> None:
        async with gate:
            await send(number)

    server.send("cpu")
    server_before = server.recv()
    before = time.process_time()
    await asyncio.gather(*(one(number) for number in range(requests)))
    spent = time.process_time() - before
    server.send("cpu")
    server_spent = server.recv() - server_before
    return Cost(1000 * spent / requests, 1000 * server_spent / requests)


async def measure(base_url: str, server: Connection, requests: int, repeat: int) -> None:
    from bot.telegram import make_bot

    bot = make_bot(TOKEN, base_url, attempts=1)
    url = f"{base_url}/bot{TOKEN}/copyMessage"

    async def ours(number: int) -> None:
        await bot.copy_message(GROUP, CLIENT, number % requests + 1)

    async with aiohttp.ClientSession() as session:

        async def bare(number: int) -> None:
            body = {"chat_id": GROUP, "from_chat_id": CLIENT, "message_id": number % requests + 1}
            async with session.post(
                url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
            ) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"copyMessage answered {answer.status}")
                await answer.read()

        await ours(0)  # the first request opens the connection and builds aiogram's models
        await bare(0)
        rows = []
        for at_once in (1, 10):
            found: dict[str, list[Cost]] = {"ours": [], "bare": []}
            for _ in range(repeat):  # interleaved, so a noisy moment hits both
                found["ours"].append(await timed(ours, requests, at_once, server))
                found["bare"].append(await timed(bare, requests, at_once, server))
            ours_ms = median([cost.client_ms for cost in found["ours"]])
            bare_ms = median([cost.client_ms for cost in found["bare"]])
            served = median([cost.server_ms for cost in found["ours"] + found["bare"]])
            rows.append(
                [
                    f"{at_once} at once",
                    f"{ours_ms:.3f}",
                    f"{bare_ms:.3f}",
                    f"{ours_ms / bare_ms:.2f}",
                    f"{served:.3f}",
                ]
            )
    await bot.session.close()
    headers = [
        "copyMessage", "bot's sender ms CPU", "bare aiohttp ms CPU", "ours / bare",
        "fake Bot API ms CPU",
    ]  # fmt: skip
    print(table(headers, rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description="CPU per Bot API request: the bot's sender against bare aiohttp, and the "
        "fake Bot API server's share"
    )
    parser.add_argument("--requests", type=int, default=3000, help="requests per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="measurements of each (median)")
    args = parser.parse_args()
    print(machine_summary(Path(tempfile.gettempdir())))
    print(f"{args.requests} copyMessage requests per measurement, medians of {args.repeat}\n")
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=serve, args=(theirs, args.requests), daemon=True
    )
    server.start()
    try:
        if not ours.poll(30):
            raise RuntimeError("the fake Bot API did not start")
        asyncio.run(measure(ours.recv(), ours, args.requests, args.repeat))
    finally:
        server.kill()
        server.join()
    print(f"\n{load_average()}")


if __name__ == "__main__":
    main()
