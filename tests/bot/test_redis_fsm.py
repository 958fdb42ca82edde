"""With REDIS_URL, conversation state is shared by every instance (a real redis-server)."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiogram.fsm.storage.redis import RedisEventIsolation, RedisStorage
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_dispatcher, make_fsm_storage
from bot.settings import BotSettings
from tests.conftest import Desk, Updates
from tests.db import rows
from tests.mocked_bot import MockedBot

CLIENT = 700001


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (.ci/run installs it)")
    port = free_port()
    directory: Path = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            subprocess.run(["sleep", "0.05"], check=True)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
async def two_instances(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    bot: MockedBot,
    redis_url: str,
) -> AsyncIterator[tuple[Desk, Desk]]:
    settings = settings.model_copy(update={"redis_url": redis_url})
    instances = []
    storages = []
    for _ in range(2):
        desk = Desk(settings, sessionmaker, i18n, bot)
        storage = make_fsm_storage(settings)
        storages.append(storage)
        desk.dispatcher = build_dispatcher(
            settings, sessionmaker, i18n, desk.worker.kick, storage=storage
        )
        instances.append(desk)
    await storages[0].redis.flushdb()  # type: ignore[attr-defined]
    yield instances[0], instances[1]
    for storage in storages:
        await storage.close()


async def test_new_ticket_state_set_on_one_instance_is_seen_by_the_other(
    two_instances: tuple[Desk, Desk], bot: MockedBot, updates: Updates, database_url: str
) -> None:
    first, second = two_instances
    assert isinstance(first.dispatcher.storage, RedisStorage)
    assert isinstance(first.dispatcher.fsm.events_isolation, RedisEventIsolation)
    await first.feed_update(bot, updates.private(CLIENT, "old problem"))
    await first.feed_update(bot, updates.private(CLIENT, "/new"))
    await second.feed_update(bot, updates.private(CLIENT, "a different problem"))

    assert rows(
        database_url, "select ticket_id, text from messages where direction='from_client'"
    ) == [(1, "old problem"), (2, "a different problem")]
