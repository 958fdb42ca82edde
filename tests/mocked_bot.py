"""A Bot whose session records every request, answers like Telegram would, and is strict.

Modelled on aiogram's own tests/mocked_bot.py, but results are generated from the
method's declared return type, so a test only scripts what should go wrong
(``bot.session.fail(...)``).

Strictness, so that a test cannot pass while the bot does something Telegram would refuse
or something nobody expects it to do:

- Only the Bot API methods the desk is known to call are accepted (``DESK_METHODS``). Any
  other call (a handler that suddenly calls ``getChat``, say) raises an AssertionError
  naming the method.
- Every request's parameters are checked against Telegram's rules the desk can break: text
  1..4096 characters, caption at most 1024, no ``parse_mode`` (the desk sends plain text and
  never sets one), ``message_thread_id`` only in a group chat, forum topics only in a group,
  topic names 1..128, inline keyboards only, each button with a text and exactly one action,
  callback data 1..64 bytes, callback answers at most 200 characters, bot commands as
  Telegram spells them.
- A violation raises AssertionError at the call *and* is recorded in ``session.violations``:
  the ``bot`` fixture in tests/conftest.py fails the test at teardown if any was recorded,
  so a violation swallowed by a handler or the outbox worker still fails the test.
- ``session.sent(name)`` refuses a method name outside ``DESK_METHODS`` (a typo would
  otherwise make "nothing was sent" assertions pass).

Tests need not opt into anything; a new method the desk starts to call is added to
``DESK_METHODS`` (and, if it has rules of its own, to ``_check``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections import defaultdict, deque
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any, get_origin

from aiogram import Bot
from aiogram.client.default import Default
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    Chat,
    ForumTopic,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    MessageId,
    User,
)

BOT_USER = User(id=42, is_bot=True, first_name="Support", username="test_support_bot")

#: The Bot API methods the desk calls (bot/outbox.py, bot/app.py, bot/handlers, bot/polling.py).
DESK_METHODS = frozenset(
    {
        "sendMessage",
        "copyMessage",
        "copyMessages",
        "editMessageCaption",
        "editMessageText",
        "createForumTopic",
        "editForumTopic",
        "closeForumTopic",
        "reopenForumTopic",
        "setMessageReaction",
        "sendDocument",
        "sendPhoto",
        "answerCallbackQuery",
        "getMe",
        "getUpdates",
        "setMyCommands",
        "setWebhook",
        "deleteWebhook",
    }
)
# Telegram's standard emoji reactions (Bot API, ReactionTypeEmoji): no other emoji is accepted.
_REACTIONS = (
    "❤ 👍 👎 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡 🥱 🥴 😍 🐳 ❤‍🔥 🌚 🌭 💯 🤣 ⚡ 🍌 "
    "🏆 💔 🤨 😐 🍓 🍾 💋 🖕 😈 😴 😭 🤓 👻 👨‍💻 👀 🎃 🙈 😇 😨 🤝 ✍ 🤗 🫡 🎅 🎄 ☃ 💅 🤪 🗿 🆒 "
    "💘 🙉 🦄 😘 💊 🙊 😎 👾 🤷‍♂ 🤷 🤷‍♀ 😡"
)
STANDARD_REACTIONS = frozenset(_REACTIONS.split())
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER = 200
MAX_TOPIC_NAME = 128
COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def _length(text: str) -> int:
    """Telegram counts UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


class RecordingSession(BaseSession):
    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.attempts: list[TelegramMethod[Any]] = []
        self.violations: list[str] = []
        self._failures: dict[str, deque[tuple[int, dict[str, Any]]]] = defaultdict(deque)
        self._message_ids: dict[int, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self._threads = itertools.count(100)
        self.forum = True

    def fail(
        self, api_method: str, status: int, description: str, times: int = 1, **parameters: Any
    ) -> None:
        _known(api_method)
        for _ in range(times):
            self._failures[api_method].append((status, {"description": description, **parameters}))

    def sent(self, api_method: str) -> list[Any]:
        """Successful requests of one method, in order (a method the desk never calls fails)."""
        _known(api_method)
        return [m for m in self.requests if m.__api_method__ == api_method]

    async def close(self) -> None:
        pass

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        self._violation(f"the desk never downloads files, but it asked for {url}")
        yield b""  # pragma: no cover

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        name = method.__api_method__
        if name not in DESK_METHODS:
            self._violation(
                f"unexpected Bot API call {name}: the desk calls only {sorted(DESK_METHODS)}"
            )
        problems = _check(bot, method)
        if problems:
            self._violation(f"{name} would be refused by Telegram: {'; '.join(problems)}")
        self.attempts.append(method)
        queue = self._failures.get(name)
        if queue:
            status, failure = queue.popleft()
            parameters = {k: v for k, v in failure.items() if k != "description"}
            body = {"ok": False, "error_code": status, "description": failure["description"]}
            if parameters:
                body["parameters"] = parameters
            self.check_response(bot, method, status, json.dumps(body))
        self.requests.append(method)
        return self._result(method)  # type: ignore[return-value]

    def _violation(self, message: str) -> None:
        self.violations.append(message)
        raise AssertionError(message)

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
        if method.__api_method__ == "copyMessages":  # an album: one new message per source
            chat_id = int(getattr(method, "chat_id"))  # noqa: B009
            ids = getattr(method, "message_ids")  # noqa: B009
            return [MessageId(message_id=next(self._message_ids[chat_id])) for _ in ids]
        if get_origin(returning) is list:  # getUpdates: no update waits in unit tests
            return []
        return True


def _known(api_method: str) -> None:
    if api_method not in DESK_METHODS:
        raise AssertionError(f"{api_method!r} is not a Bot API method the desk calls")


def _value(bot: Bot, method: TelegramMethod[Any], field: str) -> Any:
    value = getattr(method, field, None)
    if isinstance(value, Default):
        return bot.default[value.name]
    return value


def _check(bot: Bot, method: TelegramMethod[Any]) -> list[str]:
    """What Telegram would refuse in this request (empty when it is fine)."""
    name = method.__api_method__
    problems: list[str] = []
    chat_id = getattr(method, "chat_id", None)
    is_group = isinstance(chat_id, int) and chat_id < 0

    parse_mode = _value(bot, method, "parse_mode")
    if parse_mode is not None:
        problems.append(f"parse_mode={parse_mode!r}: the desk sends plain text")
    if getattr(method, "message_thread_id", None) is not None and not is_group:
        problems.append(f"message_thread_id in chat {chat_id}, which is not a group")
    text = getattr(method, "text", None)
    if name in ("sendMessage", "editMessageText"):
        if not isinstance(text, str) or not text.strip():
            problems.append("message text is empty")
        elif _length(text) > MAX_TEXT:
            problems.append(f"text is {_length(text)} characters, more than {MAX_TEXT}")
    caption = getattr(method, "caption", None)
    if isinstance(caption, str) and _length(caption) > MAX_CAPTION:
        problems.append(f"caption is {_length(caption)} characters, more than {MAX_CAPTION}")
    if (
        name == "editMessageText"
        and getattr(method, "inline_message_id", None) is None
        and (chat_id is None or getattr(method, "message_id", None) is None)
    ):
        problems.append("editMessageText needs chat_id and message_id")
    if name in ("createForumTopic", "editForumTopic"):
        if not is_group:
            problems.append(f"forum topics exist only in groups, not in chat {chat_id}")
        topic = getattr(method, "name", None)
        if topic is not None and not 1 <= _length(topic) <= MAX_TOPIC_NAME:
            problems.append(f"topic name of {_length(topic)} characters (1..{MAX_TOPIC_NAME})")
        if name == "createForumTopic" and topic is None:
            problems.append("createForumTopic needs a name")
    if name in ("closeForumTopic", "reopenForumTopic") and (
        not is_group or getattr(method, "message_thread_id", None) is None
    ):
        problems.append(f"{name} needs a group's topic, got chat {chat_id}")
    if name == "setMessageReaction":
        problems.extend(_check_reaction(method))
    if name in ("sendDocument", "sendPhoto"):
        upload = getattr(method, "document", None) or getattr(method, "photo", None)
        if not isinstance(upload, InputFile | str):
            problems.append(f"{name} without a file")
    if name == "answerCallbackQuery":
        answer = getattr(method, "text", None)
        if answer is not None and _length(answer) > MAX_CALLBACK_ANSWER:
            problems.append(f"callback answer of {_length(answer)} characters")
    if name == "setMyCommands":
        commands = getattr(method, "commands", [])
        if not 1 <= len(commands) <= 100:
            problems.append(f"{len(commands)} commands (1..100)")
        for command in commands:
            if not COMMAND.match(command.command):
                problems.append(f"command {command.command!r} is not [a-z0-9_]{{1,32}}")
            if not 1 <= len(command.description) <= 256:
                problems.append(f"command {command.command!r}: description length")
    markup = getattr(method, "reply_markup", None)
    if markup is not None:
        problems.extend(_check_markup(markup))
    if name in ("copyMessages", "forwardMessages"):
        ids = list(getattr(method, "message_ids", None) or [])
        if not 1 <= len(ids) <= 100 or ids != sorted(set(ids)):
            problems.append(f"{name} needs 1..100 strictly increasing message ids, got {ids}")
    problems.extend(_check_entities(text, getattr(method, "entities", None)))
    return problems


def _check_entities(text: Any, entities: Any) -> list[str]:
    """Entities must lie inside the text (UTF-16 offsets) and mention real users."""
    problems: list[str] = []
    for entity in entities or []:
        end = entity.offset + entity.length
        if not isinstance(text, str) or entity.offset < 0 or end > _length(text):
            where = f"{entity.offset}+{entity.length}"
            problems.append(f"{entity.type} entity {where} outside the text")
            continue
        shown = text.encode("utf-16-le")[2 * entity.offset : 2 * end].decode("utf-16-le")
        if entity.type == "text_mention" and entity.user is None:
            problems.append("a text_mention without its user")
        if entity.type == "mention" and not re.fullmatch(r"@[A-Za-z0-9_]{4,32}", shown):
            problems.append(f"mention entity over {shown!r}, which is not an @username")
    return problems


def _check_reaction(method: TelegramMethod[Any]) -> list[str]:
    problems = []
    if getattr(method, "message_id", None) is None:
        problems.append("setMessageReaction needs message_id")
    for reaction in getattr(method, "reaction", None) or []:
        emoji = getattr(reaction, "emoji", None)
        if emoji not in STANDARD_REACTIONS:
            problems.append(f"{emoji!r} is not a standard reaction")
    return problems


def _check_markup(markup: Any) -> list[str]:
    if not isinstance(markup, InlineKeyboardMarkup):
        return [f"reply_markup is {type(markup).__name__}; the desk uses inline keyboards only"]
    problems = []
    if not markup.inline_keyboard:
        problems.append("an inline keyboard without rows")
    for row in markup.inline_keyboard:
        if not row:
            problems.append("an empty keyboard row")
        for button in row:
            if not button.text:
                problems.append("a button without text")
            actions = [a for a in BUTTON_ACTIONS if getattr(button, a, None) is not None]
            if len(actions) != 1:
                problems.append(f"button {button.text!r} has actions {actions}, not exactly one")
            data = button.callback_data
            if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES:
                problems.append(
                    f"button {button.text!r}: callback_data of {len(data.encode())} bytes "
                    f"(1..{MAX_CALLBACK_DATA_BYTES})"
                )
    return problems


class MockedBot(Bot):
    session: RecordingSession

    def __init__(self) -> None:
        super().__init__("42:TEST", session=RecordingSession())
        self._me = BOT_USER
