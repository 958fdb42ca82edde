"""The Bot API client: a custom server URL, patient retries on every send, and a lean path
for the requests the outbox makes by the thousand.

Every send of a burst (a copy into the support group, a text to a client) went through the
whole of aiogram's generic request path: the method dumped by pydantic and encoded as a
form value by value (``urlencode`` in Python), a URL and a timeout object built again, and
Telegram's answer validated into a full ``Message`` (chat, sender, entities) of which the
outbox keeps one number. `DeskSession` keeps aiogram's session, its middlewares (retries),
aiohttp, and aiogram's own error mapping (429 -> ``TelegramRetryAfter`` with its
``retry_after``, 400 -> ``TelegramBadRequest`` with Telegram's text, ...), and only:

- sends ``sendMessage`` and ``copyMessage`` as a JSON body (the Bot API takes
  ``application/json`` for every request without a file upload), encoded by orjson;
- reuses the URL and timeout objects of each method;
- reads a successful answer to `OutboxSendMessage` as `Sent` (the message's id and topic);
  any other answer, a failure above all, goes through aiogram's ``check_response`` as before.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

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
from aiogram.methods import SendMessage
from aiogram.methods.base import Response, TelegramMethod, TelegramType
from aiohttp import ClientError, ClientTimeout
from aiohttp.payload import BytesPayload
from pydantic import BaseModel, ConfigDict, ValidationError
from yarl import URL

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


class Sent(BaseModel):
    """What the outbox records of a message Telegram made: its id and, in a forum, its topic.

    The rest of the answer (chat, sender, date, text, entities) is not parsed: validating a
    whole ``Message`` cost as much as the rest of the request's own Python."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    message_id: int
    message_thread_id: int | None = None


class OutboxSendMessage(SendMessage):
    """``sendMessage`` as the outbox sends it: the same request and checks; `DeskSession`
    answers it with a `Sent` instead of a ``Message`` (any other session, a test's say,
    with the ``Message`` it declares)."""


# Successful answers read by a lean model, by method class. Held here, so pydantic's weak
# cache of generic classes never drops and rebuilds them.
LEAN_ANSWERS: dict[type[TelegramMethod[Any]], type[Response[Any]]] = {
    OutboxSendMessage: Response[Sent],
}
# Requests sent as a JSON body: the outbox's hot methods, which never upload a file.
JSON_METHODS = frozenset({"sendMessage", "copyMessage"})
# Values a request carries as they are (not their subclasses: an enum is sent by its value).
PLAIN_VALUES = frozenset({str, int, float, bool})


class DeskSession(AiohttpSession):
    """aiogram's aiohttp session with a lean path for the outbox's sends (module docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._urls: dict[tuple[str, str], URL] = {}
        self._timeouts: dict[float, ClientTimeout] = {}

    def _url(self, bot: BotType, api_method: str) -> URL:
        key = (bot.token, api_method)
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = URL(self.api.api_url(token=bot.token, method=api_method))
        return url

    def _timeout(self, timeout: float | None) -> ClientTimeout:
        seconds = self.timeout if timeout is None else timeout
        found = self._timeouts.get(seconds)
        if found is None:
            found = self._timeouts[seconds] = ClientTimeout(total=seconds)
        return found

    def json_body(self, bot: BotType, method: TelegramMethod[Any]) -> bytes | None:
        """The request as JSON; None when it carries a file (it then goes as a form).

        The values are those of aiogram's form (``build_form_data``): defaults resolved from
        the bot's, nothing for None or an empty value, nested objects without their None
        fields; only each value is a JSON value instead of a form's string."""
        files: dict[str, Any] = {}
        values: dict[str, Any] = {}
        for key, value in method:
            if value is None:
                continue
            # A number or a text is its own value: `prepare_value` finds that out only after
            # a dozen isinstance checks (several against ABCs), a seventh of a send's CPU.
            prepared = (
                value
                if type(value) in PLAIN_VALUES
                else self.prepare_value(value, bot=bot, files=files, _dumps_json=False)
            )
            # The form leaves out what is empty (an empty list or object goes as "[]", "{}").
            if not prepared and not isinstance(prepared, dict | list):
                continue
            values[key] = prepared
        if files:
            return None
        return orjson.dumps(values)

    async def make_request(
        self,
        bot: BotType,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,
    ) -> TelegramType:
        api_method = method.__api_method__
        body = self.json_body(bot, method) if api_method in JSON_METHODS else None
        if body is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        try:
            async with session.post(
                self._url(bot, api_method),
                # A payload that names its type: no headers of our own to merge per request.
                data=BytesPayload(body, content_type="application/json"),
                timeout=self._timeout(timeout),
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        lean = LEAN_ANSWERS.get(type(method))
        if lean is not None and 200 <= resp.status <= 226:
            try:
                answer = lean.model_validate(self.json_loads(raw_result))
            except (ValueError, ValidationError):
                answer = None  # not what Telegram answers: aiogram's check says what it is
            if answer is not None and answer.ok:
                return cast(TelegramType, answer.result)
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw_result
        )
        return cast(TelegramType, response.result)


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
        DeskSession(api=TelegramAPIServer.from_base(api_url), **session_kwargs)
        if api_url
        else DeskSession(**session_kwargs)
    )
    session.middleware(RetryMiddleware(attempts, backoff_seconds))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=None))
