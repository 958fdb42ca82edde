"""A plain relay bot: the baseline ``bench.ingest`` runs beside the desk in the same invocation.

Written the obvious way a user of aiogram and SQLAlchemy would: ``start_polling``, an ORM
session per message, one row inserted and committed, one ``forward_message`` into the
support group. Nothing else: no tickets, no events, no outbox, no evidence chain. It writes
under the same SQLite pragmas as the desk (``RELAY_PRAGMAS``, read by the benchmark from an
engine made by crm/db.py), so the two are compared on equal durability.

    DATABASE_URL=sqlite+aiosqlite:///relay.db BOT_TOKEN=... TELEGRAM_API_URL=... \\
    SUPPORT_CHAT_ID=... python -m bench.relay_bot
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from sqlalchemy import BigInteger, DateTime, Integer, Text, event
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Relayed(Base):
    __tablename__ = "relayed"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


async def main() -> None:
    engine = create_async_engine(os.environ["DATABASE_URL"])
    pragmas: dict[str, str] = json.loads(os.environ.get("RELAY_PRAGMAS", "{}"))

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for name, value in pragmas.items():
            cursor.execute(f"PRAGMA {name}={value}")
        cursor.close()

    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    support_chat_id = int(os.environ["SUPPORT_CHAT_ID"])
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def relay(message: Message) -> None:
        async with sessionmaker() as db:
            db.add(
                Relayed(
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    text=message.text,
                    received_at=datetime.now(UTC),
                )
            )
            await db.commit()
        await bot.forward_message(support_chat_id, message.chat.id, message.message_id)

    try:
        await dispatcher.start_polling(
            bot, polling_timeout=int(os.environ.get("POLLING_TIMEOUT_SECONDS", "1"))
        )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
