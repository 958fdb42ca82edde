"""Shared fixtures: a migrated database per test, a fresh dispatcher, update builders."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiogram import Dispatcher
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_dispatcher
from bot.i18n import make_i18n
from bot.metrics import DeskMetrics
from bot.outbox import OutboxWorker, RateLimits
from bot.reports import ReportBuilder
from bot.settings import BotSettings
from crm.db import make_engine, make_sessionmaker, upgrade_database_async
from tests.db import create_database, drop_database
from tests.mocked_bot import MockedBot

SUPPORT_CHAT_ID = -1001000000001
MANAGER_ID = 900001
ENGINEER_ID = 500001


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    url = create_database(tmp_path)
    yield url
    drop_database(url)


@pytest.fixture
async def sessionmaker(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_database_async(database_url)
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
def settings(database_url: str) -> BotSettings:
    return BotSettings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token="123456:TEST-TOKEN",
        support_chat_id=SUPPORT_CHAT_ID,
        manager_ids=str(MANAGER_ID),
        database_url=database_url,
        send_backoff_seconds=0,
    )


@pytest.fixture
def i18n() -> I18n:
    return make_i18n()


@pytest.fixture
def bot() -> Iterator[MockedBot]:
    """A strict MockedBot: a call Telegram would refuse, or one the desk is not expected to
    make, fails the test even when the code under test swallowed the AssertionError."""
    bot = MockedBot()
    yield bot
    assert not bot.session.violations, "\n".join(bot.session.violations)


class Desk:
    """A fresh Dispatcher plus the real outbox worker, drained after every update so a
    test sees what the bot said (limits raised: timing is the e2e tests' business)."""

    def __init__(
        self,
        settings: BotSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        i18n: I18n,
        bot: MockedBot,
    ) -> None:
        self.metrics = DeskMetrics()
        self.worker = OutboxWorker(
            bot,
            sessionmaker,
            i18n,
            settings.engineer_language,
            RateLimits(overall_per_second=1000, private_per_second=1000, group_per_minute=1000),
            backoff_seconds=0,
            jobs=ReportBuilder(settings, sessionmaker, i18n).jobs(),
            metrics=self.metrics,
        )
        self.dispatcher: Dispatcher = build_dispatcher(
            settings, sessionmaker, i18n, self.worker.kick, metrics=self.metrics
        )

    async def feed_update(self, bot: MockedBot, update: Update) -> None:
        await self.dispatcher.feed_update(bot, update)
        await self.worker.drain(timeout=10)


@pytest.fixture
def dispatcher(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    bot: MockedBot,
) -> Desk:
    return Desk(settings, sessionmaker, i18n, bot)


class Updates:
    """Builds real `Update` objects as Telegram would send them."""

    def __init__(self) -> None:
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self.now = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def _next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1000)))

    def private(
        self,
        user_id: int,
        text: str | None = None,
        *,
        first_name: str = "Aigerim",
        language_code: str = "en",
        date: datetime | None = None,
        **content: Any,
    ) -> Update:
        message: dict[str, Any] = {
            "message_id": self._next_message_id(user_id),
            "date": int((date or self.now).timestamp()),
            "chat": {"id": user_id, "type": "private", "first_name": first_name},
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": first_name,
                "language_code": language_code,
            },
            **content,
        }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return Update.model_validate({"update_id": next(self._update_ids), "message": message})

    def group(
        self,
        text: str | None = None,
        *,
        thread_id: int | None = None,
        reply_to: int | None = None,
        user_id: int = ENGINEER_ID,
        date: datetime | None = None,
        **content: Any,
    ) -> Update:
        message: dict[str, Any] = {
            "message_id": self._next_message_id(SUPPORT_CHAT_ID),
            "date": int((date or self.now).timestamp()),
            "chat": {
                "id": SUPPORT_CHAT_ID,
                "type": "supergroup",
                "title": "Support",
                "is_forum": True,
            },
            "from": {"id": user_id, "is_bot": False, "first_name": "Dana"},
            **content,
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = {
                "message_id": reply_to,
                "date": message["date"],
                "chat": message["chat"],
                "text": "…",
            }
        if text is not None:
            message["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return Update.model_validate({"update_id": next(self._update_ids), "message": message})

    def callback(self, user_id: int, data: str, *, message_id: int = 1) -> Update:
        return Update.model_validate(
            {
                "update_id": next(self._update_ids),
                "callback_query": {
                    "id": str(next(self._update_ids)),
                    "from": {
                        "id": user_id,
                        "is_bot": False,
                        "first_name": "Aigerim",
                        "language_code": "en",
                    },
                    "chat_instance": "1",
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": int(self.now.timestamp()),
                        "chat": {"id": user_id, "type": "private"},
                        "text": "…",
                        "from": {"id": 42, "is_bot": True, "first_name": "Support"},
                    },
                },
            }
        )


@pytest.fixture
def updates() -> Updates:
    return Updates()
