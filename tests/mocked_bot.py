"""A Bot whose session records every request and answers like Telegram would.

Modelled on aiogram's own tests/mocked_bot.py, but results are generated from the
method's declared return type, so a test only scripts what should go wrong.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict, deque
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import Chat, ForumTopic, Message, MessageId, User

BOT_USER = User(id=42, is_bot=True, first_name="Support", username="test_support_bot")


class RecordingSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.attempts: list[TelegramMethod[Any]] = []
        self._failures: dict[str, deque[tuple[int, dict[str, Any]]]] = defaultdict(deque)
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._threads = itertools.count(100)
        self.forum = True

    def fail(
        self, api_method: str, status: int, description: str, times: int = 1, **parameters: Any
    ) -> None:
        for _ in range(times):
            self._failures[api_method].append((status, {"description": description, **parameters}))

    def sent(self, api_method: str) -> list[TelegramMethod[Any]]:
        return [m for m in self.requests if m.__api_method__ == api_method]

    async def close(self) -> None:
        pass

    async def stream_content(  # pragma: no cover - the desk never downloads files
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        self.attempts.append(method)
        queue = self._failures.get(method.__api_method__)
        if queue:
            status, failure = queue.popleft()
            parameters = {k: v for k, v in failure.items() if k != "description"}
            body = {"ok": False, "error_code": status, "description": failure["description"]}
            if parameters:
                body["parameters"] = parameters
            self.check_response(bot, method, status, json.dumps(body))
        self.requests.append(method)
        return self._result(method)  # type: ignore[return-value]

    def _result(self, method: TelegramMethod[Any]) -> Any:
        returning = method.__returning__
        if returning is Message:
            chat_id = int(getattr(method, "chat_id"))  # noqa: B009 - every send method has it
            thread = getattr(method, "message_thread_id", None)
            return Message(
                message_id=next(self._message_ids[chat_id]),
                date=datetime.now(UTC),
                chat=Chat(id=chat_id, type="private" if chat_id > 0 else "supergroup"),
                from_user=BOT_USER,
                text=getattr(method, "text", None),
                message_thread_id=thread,
                is_topic_message=thread is not None or None,
            )
        if returning is MessageId:
            return MessageId(message_id=next(self._message_ids[int(getattr(method, "chat_id"))]))  # noqa: B009
        if returning is ForumTopic:
            if not self.forum:
                self.check_response(
                    None,  # type: ignore[arg-type]
                    method,
                    400,
                    json.dumps(
                        {
                            "ok": False,
                            "error_code": 400,
                            "description": "Bad Request: the chat is not a forum",
                        }
                    ),
                )
            return ForumTopic(message_thread_id=next(self._threads), name=method.name, icon_color=0)  # type: ignore[attr-defined]
        if returning is User:
            return BOT_USER
        return True


class MockedBot(Bot):
    session: RecordingSession

    def __init__(self) -> None:
        super().__init__("42:TEST", session=RecordingSession())
        self._me = BOT_USER
