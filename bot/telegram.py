"""The Bot API client: a custom server URL and patient retries on every send."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods.base import Response, TelegramMethod, TelegramType

if TYPE_CHECKING:
    from aiogram.client.bot import Bot as BotType

log = structlog.get_logger()


class RetryMiddleware(BaseRequestMiddleware):
    """Retries 429 (after Telegram's own `retry_after`), 5xx and network errors.

    Anything else (400 bad request, 403 blocked) is permanent: retrying cannot help, so
    it surfaces at once and the caller records it.
    """

    def __init__(self, attempts: int = 5, backoff_seconds: float = 0.5) -> None:
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: BotType,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ == "getUpdates":
            # Polling has its own back-off; retrying a long poll here would stall shutdown.
            return await make_request(bot, method)
        attempt = 1
        while True:
            failure: TelegramAPIError
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as error:
                failure, delay = error, float(error.retry_after)
            except (TelegramServerError, TelegramNetworkError) as error:
                failure, delay = error, self.backoff_seconds * 2 ** (attempt - 1)
            reason = type(failure).__name__
            if attempt >= self.attempts:
                log.error("send_gave_up", method=method.__api_method__, attempts=attempt)
                raise failure
            log.warning(
                "send_retry",
                method=method.__api_method__,
                attempt=attempt,
                reason=reason,
                delay=delay,
            )
            await asyncio.sleep(delay)
            attempt += 1


def json_dumps(value: Any) -> str:
    """The Bot API's request values as JSON, by orjson (a send's reply markup, each number):
    several times the standard library's speed on every request the desk makes."""
    return orjson.dumps(value).decode()


def make_bot(
    token: str,
    api_url: str | None = None,
    *,
    attempts: int = 5,
    backoff_seconds: float = 0.5,
    **session_kwargs: Any,
) -> Bot:
    # Telegram's answers (a batch of 100 updates) and the requests' values, by orjson.
    session_kwargs.setdefault("json_loads", orjson.loads)
    session_kwargs.setdefault("json_dumps", json_dumps)
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(api_url), **session_kwargs)
        if api_url
        else AiohttpSession(**session_kwargs)
    )
    session.middleware(RetryMiddleware(attempts, backoff_seconds))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=None))
