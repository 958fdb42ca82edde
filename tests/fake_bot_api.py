"""A fake Telegram Bot API server for tests.

No machine that runs the tests can reach Telegram, so the real bot (or a bare aiogram ``Bot``)
is pointed at this server with ``TelegramAPIServer.from_base(api.base_url)``. The server runs
inside the test's event loop, records every request, answers with JSON shaped like Telegram's
(so aiogram parses it into its types), long-polls ``getUpdates`` like Telegram and can inject
faults (429, 4xx, 5xx, dropped connections, delays).

It serves the Bot API methods the desk calls and nothing else (any other method is answered
404 and listed in ``unknown_methods``), and refuses what Telegram refuses where the desk can
get it wrong: texts over 4096 characters, captions over 1024, empty texts, callback data over
64 bytes, posting to a topic that does not exist, editing a message that does not exist or
with identical content, a second ``getUpdates`` poller or ``getUpdates`` while a webhook is set
(409 Conflict). The desk sends plain text, so a ``parse_mode`` is refused and recorded in
``fake_errors``. ``limit_rates()`` turns on Telegram's flood control (per private chat, per
group, overall; 429 with ``retry_after``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import mimetypes
import re
import secrets
import socket
import time
import types
import typing
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

__all__ = [
    "ApiError",
    "FakeBotAPI",
    "Fault",
    "Request",
    "SentMessage",
    "Topic",
    "UploadedFile",
]

log = logging.getLogger("fake_bot_api")

DEFAULT_TOKEN = "123456:TEST-TOKEN"
# Telegram's standard emoji reactions (Bot API, ReactionTypeEmoji): no other emoji is accepted.
_REACTIONS = (
    "❤ 👍 👎 🔥 🥰 👏 😁 🤔 🤯 😱 🤬 😢 🎉 🤩 🤮 💩 🙏 👌 🕊 🤡 🥱 🥴 😍 🐳 ❤‍🔥 🌚 🌭 💯 🤣 ⚡ 🍌 "
    "🏆 💔 🤨 😐 🍓 🍾 💋 🖕 😈 😴 😭 🤓 👻 👨‍💻 👀 🎃 🙈 😇 😨 🤝 ✍ 🤗 🫡 🎅 🎄 ☃ 💅 🤪 🗿 🆒 "
    "💘 🙉 🦄 😘 💊 🙊 😎 👾 🤷‍♂ 🤷 🤷‍♀ 😡"
)
STANDARD_REACTIONS = frozenset(_REACTIONS.split())
TOPIC_ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200

# Media keys the fake builds (photo()/document()) and the bot uploads (sendPhoto/sendDocument).
MEDIA_KEYS = ("photo", "document")
# Keys of a message that are not its content (copyMessage reproduces all the others).
_NOT_CONTENT = frozenset(
    {"message_id", "from", "sender_chat", "chat", "date", "edit_date", "message_thread_id",
     "is_topic_message", "reply_to_message", "forward_origin", "reply_markup", "caption",
     "caption_entities", "has_protected_content", "media_group_id", "author_signature"}
)  # fmt: skip
_SERVICE_KEYS = frozenset({"forum_topic_created", "forum_topic_edited", "new_chat_members"})
# Media sent by sendXxx(<field>=...): field name -> default mime type.
UPLOAD_KINDS: dict[str, str] = {"photo": "image/jpeg", "document": "application/octet-stream"}
# What Telegram's flood control counts: every call that posts into a chat.
SEND_METHODS = frozenset(
    {"sendmessage", "copymessage", "copymessages", "senddocument", "sendphoto",
     "createforumtopic", "editforumtopic"}
)  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Data records
# ---------------------------------------------------------------------------------------------


@dataclass
class UploadedFile:
    """A file part of a multipart request (kept so tests can check what the bot uploaded)."""

    key: str
    filename: str | None
    content_type: str | None
    size: int
    content: bytes = field(repr=False)


@dataclass
class Request:
    """One call the fake received; ``params`` are decoded (numbers, JSON objects, uploads)."""

    method: str
    params: dict[str, Any]
    time: float
    index: int
    files: dict[str, UploadedFile] = field(default_factory=dict)
    #: "pending" while being handled, then "ok", "failed" or "cancelled" (client went away).
    status: str = "pending"
    failed: bool = False
    error_code: int | None = None
    description: str | None = None
    #: True when the failure came from fault injection rather than from validation.
    injected: bool = False
    #: True when the flood control (limit_rates) answered 429.
    rate_limited: bool = False
    result: Any = None
    #: For copyMessage: the message being copied (None if it is unknown).
    source: dict[str, Any] | None = None
    token: str = ""

    @property
    def ok(self) -> bool:
        """True once the call has been answered successfully."""
        return self.status == "ok"

    def summary(self) -> str:
        """One line for assertion messages."""
        keys = (
            "chat_id",
            "message_thread_id",
            "message_id",
            "from_chat_id",
            "user_id",
            "name",
            "offset",
            "callback_query_id",
        )
        shown = {k: self.params[k] for k in keys if k in self.params}
        for key in ("text", "caption", "data"):
            if key in self.params:
                shown[key] = _shorten(str(self.params[key]))
        state = self.status
        if self.failed:
            state = f"failed {self.error_code or ''} {_shorten(self.description or '', 80)}"
            state += " (injected)" if self.injected else ""
        return f"#{self.index} {self.method} {shown} [{state}]"


@dataclass
class SentMessage:
    """A message the bot delivered to a chat (send*, copyMessage)."""

    method: str
    chat_id: int
    message_id: int
    message_thread_id: int | None
    params: dict[str, Any]
    #: The message as Telegram would return it now (edits update it).
    message: dict[str, Any]
    time: float
    request: Request | None = field(default=None, repr=False)

    @property
    def text(self) -> str | None:
        """Text or caption of the message as Telegram shows it (entities parsed out)."""
        value = self.message.get("text", self.message.get("caption"))
        return value if isinstance(value, str) else None

    @property
    def kind(self) -> str:
        """'text' or the media key (photo, document, ...)."""
        for key in MEDIA_KEYS:
            if key in self.message:
                return key
        return "text" if "text" in self.message else "unknown"

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        """Reply markup as sent (any keyboard type, not only inline)."""
        markup = self.params.get("reply_markup")
        return markup if isinstance(markup, dict) else None

    def button_data(self) -> list[str]:
        """All callback_data values of the inline keyboard, in order."""
        markup = self.message.get("reply_markup") or {}
        return [
            b["callback_data"]
            for row in markup.get("inline_keyboard", [])
            for b in row
            if "callback_data" in b
        ]


@dataclass
class Topic:
    """A forum topic of a supergroup as the fake tracks it."""

    chat_id: int
    message_thread_id: int
    name: str
    icon_color: int = TOPIC_ICON_COLORS[0]
    icon_custom_emoji_id: str | None = None
    closed: bool = False


@dataclass
class ChatInfo:
    """Configuration of a non-private chat."""

    id: int
    type: str = "supergroup"
    title: str = ""
    is_forum: bool = True
    username: str | None = None


@dataclass
class Fault:
    """An injected failure; see FakeBotAPI.fail / fail_every / fail_when / delay."""

    match: Callable[[Request], bool]
    error_code: int | None = 429
    description: str | None = None
    retry_after: int | None = None
    times: int | None = 1
    every: int | None = None
    disconnect: bool = False
    delay: float = 0.0
    seen: int = 0
    fired: int = 0
    active: bool = True

    def cancel(self) -> None:
        """Stop injecting this fault."""
        self.active = False

    def _should_fire(self, request: Request) -> bool:
        if not self.active or not self.match(request):
            return False
        self.seen += 1
        if self.every is not None and self.seen % self.every:
            return False
        self.fired += 1
        if self.times is not None:
            self.times -= 1
            if self.times <= 0:
                self.active = False
        return True

    def error_payload(self) -> dict[str, Any]:
        """The Telegram-shaped error body for this fault."""
        code = self.error_code or 500
        parameters: dict[str, Any] = {}
        retry_after = self.retry_after
        if code == 429 and retry_after is None:
            retry_after = 1
        if retry_after is not None:
            parameters["retry_after"] = retry_after
        description = self.description or _default_description(code, retry_after)
        payload: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            payload["parameters"] = parameters
        return payload


@dataclass(frozen=True)
class RateLimits:
    """Telegram's flood control as the fake applies it (see FakeBotAPI.limit_rates).

    Every call in SEND_METHODS counts for its chat: a private chat takes one a second, a group
    ``group_per_minute`` in any 60 s (all its topics together), and the bot ``overall_per_second``
    across chats. A call over a limit is answered 429 with ``retry_after`` = the whole seconds
    until it would have been allowed, as Telegram does.
    """

    private_per_second: float = 1.0
    group_per_minute: int = 20
    overall_per_second: int = 30


class ApiError(Exception):
    """Raised by method handlers to answer with a Telegram error."""

    def __init__(
        self, error_code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram would send."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(text: str) -> ApiError:
    """A 400 the way Telegram words it."""
    return ApiError(400, f"Bad Request: {text}")


def _default_description(code: int, retry_after: int | None) -> str:
    if code == 429:
        return f"Too Many Requests: retry after {retry_after}"
    return {
        400: "Bad Request: injected failure",
        401: "Unauthorized",
        403: "Forbidden: bot was blocked by the user",
        404: "Not Found",
        409: "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }.get(code, f"Error {code}: injected failure")


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------------------------
# Parameter decoding: aiogram sends every value as a string (multipart or urlencoded form),
# nested objects as JSON strings. Which fields stay strings is read from aiogram's own method
# models, so that e.g. text="123" stays a string while chat_id="-100..." becomes an int.
# ---------------------------------------------------------------------------------------------

_GENERIC_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "name",
        "data",
        "query",
        "description",
        "short_description",
        "title",
        "url",
        "callback_query_id",
        "inline_message_id",
        "file_id",
        "emoji",
        "phone_number",
        "first_name",
        "last_name",
        "address",
        "question",
        "parse_mode",
        "language_code",
        "icon_custom_emoji_id",
        "business_connection_id",
        "message_effect_id",
    }
)


@dataclass(frozen=True)
class _MethodSpec:
    name: str
    string_fields: frozenset[str]


def _is_plain_string(annotation: Any) -> bool:
    """True when a field accepts only strings/files (so its value must not be JSON-decoded)."""
    from aiogram.client.default import Default
    from aiogram.types import InputFile

    pending = [annotation]
    seen: list[Any] = []
    while pending:
        current = pending.pop()
        origin = typing.get_origin(current)
        if origin in (typing.Union, types.UnionType):
            pending.extend(typing.get_args(current))
        elif origin is typing.Annotated:
            pending.append(typing.get_args(current)[0])
        elif origin is typing.Literal:
            seen.extend(type(a) for a in typing.get_args(current))
        else:
            seen.append(current)
    kinds = [k for k in seen if k not in (type(None), Default)]
    if not kinds:
        return False
    return all(k is str or (isinstance(k, type) and issubclass(k, InputFile)) for k in kinds)


def _load_method_specs() -> dict[str, _MethodSpec]:
    from aiogram import methods
    from aiogram.methods.base import TelegramMethod

    specs: dict[str, _MethodSpec] = {}
    for obj in vars(methods).values():
        if not (isinstance(obj, type) and issubclass(obj, TelegramMethod)):
            continue
        api_name = getattr(obj, "__api_method__", None)
        if not isinstance(api_name, str):
            continue
        strings = frozenset(
            f.alias or name
            for name, f in obj.model_fields.items()
            if _is_plain_string(f.annotation)
        )
        specs[api_name.lower()] = _MethodSpec(api_name, strings)
    return specs


_METHOD_SPECS: dict[str, _MethodSpec] | None = None


def _method_specs() -> dict[str, _MethodSpec]:
    global _METHOD_SPECS
    if _METHOD_SPECS is None:
        _METHOD_SPECS = _load_method_specs()
    return _METHOD_SPECS


_JSONISH = re.compile(r"^\s*(?:[\[{]|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*$|true$|false$|null$)")


def _decode_value(key: str, value: Any, string_fields: frozenset[str]) -> Any:
    if not isinstance(value, str) or key in string_fields:
        return value
    if not _JSONISH.match(value):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _resolve_attachments(value: Any, files: Mapping[str, UploadedFile]) -> Any:
    """Replace "attach://key" references (aiogram's way of sending uploads) by the upload."""
    if isinstance(value, str) and value.startswith("attach://"):
        return files.get(value[len("attach://") :], value)
    if isinstance(value, list):
        return [_resolve_attachments(v, files) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_attachments(v, files) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------
# Texts. The desk sends plain text only: a parse_mode is refused (see _formatted).
# ---------------------------------------------------------------------------------------------


def _strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram trims leading/trailing whitespace of texts; keep entities aligned."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    shift = _utf16_len(text[: len(text) - len(text.lstrip())])
    limit = _utf16_len(stripped)
    result = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, limit)
        if end > start:
            result.append({**entity, "offset": start, "length": end - start})
    return stripped, result


def _bot_command_entities(text: str) -> list[dict[str, Any]]:
    """Telegram marks "/command" (and "/command@bot") at the start of a text as bot_command."""
    m = re.match(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?", text)
    return [{"type": "bot_command", "offset": 0, "length": _utf16_len(m.group(0))}] if m else []


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


@dataclass
class _QueuedUpdate:
    update: dict[str, Any]
    forced: bool
    delivered: bool = False

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])


class _Poll:
    """One pending getUpdates call, so a newer call can terminate it (409) like Telegram."""

    def __init__(self) -> None:
        self.conflict = False


Handler = Callable[[Request], Awaitable[Any]]
T = typing.TypeVar("T")


class FakeBotAPI:
    """Fake Bot API server; see the module docstring. Use ``async with FakeBotAPI() as api``."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_id: int | None = None,
        bot_username: str = "test_support_bot",
        bot_first_name: str = "Test Support Bot",
        can_read_all_group_messages: bool = False,
        check_token: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        prefix = token.split(":", 1)[0]
        # aiogram derives Bot.id from the token, so by default the bot user id matches it,
        # exactly as on Telegram (message.from_user.id == bot.id for the bot's own messages).
        self.bot_id = bot_id if bot_id is not None else int(prefix) if prefix.isdigit() else 7000001
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.can_read_all_group_messages = can_read_all_group_messages
        self.check_token = check_token
        self.host = host

        self.requests: list[Request] = []
        self.sent: list[SentMessage] = []
        self.fake_errors: list[str] = []
        self.webhook_url = ""
        self.confirmed_offset = 0
        self.get_updates_calls = 0

        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._queue: list[_QueuedUpdate] = []
        self._max_delivered_id = 0
        self._active_poll: _Poll | None = None
        self._pending_polls = 0
        self._poll_event = asyncio.Event()
        self._activity = asyncio.Event()
        self._update_ids = itertools.count(100_000)
        self._next_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, ChatInfo] = {}
        self._blocked: dict[int, str] = {}
        self._members: dict[tuple[int, int], str] = {}
        self._topics: dict[int, dict[int, Topic]] = {}
        self._file_counter = itertools.count(1)
        self._callback_queries: dict[str, bool] = {}
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._faults: list[Fault] = []
        self._limits: RateLimits | None = None
        self._send_times: dict[int, list[float]] = {}
        self.reactions: dict[tuple[int, int], list[str]] = {}

        # The methods the desk calls (bot/), and nothing else: a call of any other method is
        # answered 404 and listed in ``unknown_methods``, which the e2e tests assert empty.
        self._handlers: dict[str, Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "setmycommands": self._set_my_commands,
            "sendmessage": self._send_message,
            "copymessage": self._copy_message,
            "copymessages": self._copy_messages,
            "editmessagecaption": self._edit_message_caption,
            "senddocument": self._send_media_handler("document"),
            "sendphoto": self._send_media_handler("photo"),
            "editmessagetext": self._edit_message_text,
            "answercallbackquery": self._answer_callback_query,
            "createforumtopic": self._create_forum_topic,
            "editforumtopic": self._edit_forum_topic,
            "closeforumtopic": self._close_forum_topic,
            "reopenforumtopic": self._reopen_forum_topic,
            "setmessagereaction": self._set_message_reaction,
        }

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and start serving in the running event loop."""
        if self._runner is not None:
            return self
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            shutdown_timeout=1.0,
            handler_cancellation=True,
            access_log=None,
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        self._runner = runner
        return self

    async def stop(self) -> None:
        """Answer pending long polls and shut the server down (idempotent)."""
        if self._runner is None:
            return
        self._closing = True
        self._wake_pollers()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The TCP port (only after start())."""
        if self._port is None:
            raise RuntimeError("FakeBotAPI is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """For ``TelegramAPIServer.from_base(api.base_url)`` / TELEGRAM_API_URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot as a User object (the ``from`` of everything it sends)."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    # -- configuration --------------------------------------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        *,
        title: str | None = None,
        is_forum: bool = True,
        type: str = "supergroup",
        username: str | None = None,
    ) -> ChatInfo:
        """Configure a group/supergroup/channel (negative ids are auto-created as forums)."""
        info = ChatInfo(chat_id, type, title or f"Chat {chat_id}", is_forum, username)
        self._chats[chat_id] = info
        return info

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str = "Client",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_bot: bool = False,
    ) -> dict[str, Any]:
        """Register a user (builders do this implicitly); returns the User object."""
        user: dict[str, Any] = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return user

    def add_member(self, chat_id: int, user_id: int, status: str = "member") -> None:
        """Make user_id a member of chat_id ("member", "administrator", "creator", ...)."""
        self._members[(chat_id, user_id)] = status

    def member_status(self, chat_id: int, user_id: int) -> str:
        """Current status; the bot is an administrator of every group unless configured."""
        status = self._members.get((chat_id, user_id))
        if status is not None:
            return status
        if user_id == self.bot_id and chat_id < 0:
            return "administrator"
        if chat_id > 0 and chat_id == user_id:
            return "member"
        return "left"

    def block(self, user_id: int, reason: str = "blocked") -> None:
        """Sending to this user fails with 403: reason "blocked", "not_started", "deactivated"."""
        self._blocked[user_id] = {
            "blocked": "Forbidden: bot was blocked by the user",
            "not_started": "Forbidden: bot can't initiate conversation with a user",
            "deactivated": "Forbidden: user is deactivated",
        }.get(reason, reason)

    def unblock(self, user_id: int) -> None:
        """Undo block()."""
        self._blocked.pop(user_id, None)

    def create_topic(
        self, chat_id: int, name: str, *, icon_color: int = TOPIC_ICON_COLORS[0]
    ) -> Topic:
        """Create a forum topic as if someone had created it (no request recorded)."""
        thread_id = self._new_message_id(chat_id)
        topic = Topic(chat_id, thread_id, name, icon_color)
        self._topics.setdefault(chat_id, {})[thread_id] = topic
        self._store(self._topic_service_message(topic, self.bot_user))
        return topic

    def topics(self, chat_id: int) -> dict[int, Topic]:
        """Topics of a chat by message_thread_id."""
        return dict(self._topics.get(chat_id, {}))

    # -- updates --------------------------------------------------------------------------------

    def next_update_id(self) -> int:
        """Allocate an update_id (builders do this)."""
        return next(self._update_ids)

    def push_update(self, update: Mapping[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates, keeping its update_id (re-push = redelivery)."""
        data = dict(update)
        if "update_id" not in data:
            data["update_id"] = self.next_update_id()
        update_id = int(data["update_id"])
        if update_id >= 100_000:
            # Keep builders' ids ahead of custom ones.
            current = next(self._update_ids)
            self._update_ids = itertools.count(max(current, update_id + 1))
        for key in ("message", "edited_message", "channel_post"):
            if isinstance(data.get(key), dict):
                self._remember_incoming(data[key])
        query = data.get("callback_query")
        if isinstance(query, dict):
            self._callback_queries.setdefault(str(query.get("id")), False)
            if isinstance(query.get("message"), dict):
                self._store(query["message"], overwrite=False)
        forced = update_id < self.confirmed_offset or update_id <= self._max_delivered_id
        self._queue.append(_QueuedUpdate(data, forced))
        self._wake_pollers()
        return data

    def push(self, *updates: Mapping[str, Any]) -> list[dict[str, Any]]:
        """push_update() for several updates."""
        return [self.push_update(u) for u in updates]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates queued and not yet confirmed by an offset."""
        return [q.update for q in self._queue]

    def private_message(
        self,
        user_id: int,
        text: str | None = None,
        *,
        first_name: str = "Client",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        content: Mapping[str, Any] | None = None,
        date: int | None = None,
        message_id: int | None = None,
        reply_to_message_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """Build a ``message`` update from a user in their private chat with the bot.

        With ``content`` (a media dict from photo()/document()/...), ``text`` becomes the caption.
        """
        user = self.add_user(
            user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        chat = self._chat_object(user_id)
        message = self._incoming_message(
            chat, user, text, content, date, message_id, reply_to_message_id, entities, None
        )
        return {"update_id": update_id or self.next_update_id(), "message": message}

    def group_message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        thread_id: int | None = None,
        reply_to_message_id: int | None = None,
        is_forum: bool | None = None,
        first_name: str = "Engineer",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        content: Mapping[str, Any] | None = None,
        date: int | None = None,
        message_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """Build a ``message`` update in a (forum) supergroup; thread_id = topic.

        ``is_forum`` reconfigures the chat when given; by default the chat's configuration
        (forum unless add_chat(..., is_forum=False)) is used. Messages in a topic carry
        ``reply_to_message`` = the topic's creation message, exactly like Telegram sends them.
        """
        info = self._chat_info(chat_id)
        if is_forum is not None:
            info.is_forum = is_forum
        user = self.add_user(
            user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )
        if thread_id is not None and info.is_forum:
            self._ensure_topic(chat_id, thread_id)
        chat = self._chat_object(chat_id)
        message = self._incoming_message(
            chat, user, text, content, date, message_id, reply_to_message_id, entities, thread_id
        )
        return {"update_id": update_id or self.next_update_id(), "message": message}

    def edited_message(
        self, chat_id: int, message_id: int, text: str, *, edit_date: int | None = None
    ) -> dict[str, Any]:
        """Build an ``edited_message`` update: a user's message, its text (or caption) changed."""
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        key = "text" if "text" in message else "caption"
        changed = {**message, key: text, "edit_date": edit_date or int(time.time())}
        changed.pop("entities" if key == "text" else "caption_entities", None)
        self._store(changed)
        return {"update_id": self.next_update_id(), "edited_message": changed}

    def callback_query(
        self,
        user_id: int,
        data: str,
        *,
        message_chat_id: int,
        message_id: int,
        first_name: str = "Client",
        username: str | None = None,
        language_code: str | None = "en",
        query_id: str | None = None,
        update_id: int | None = None,
    ) -> dict[str, Any]:
        """Build a ``callback_query`` update for a button under a (bot) message.

        If the message is unknown a stub bot message is registered, so editing it works.
        """
        user = self._users.get(user_id) or self.add_user(
            user_id, first_name=first_name, username=username, language_code=language_code
        )
        message = self._messages.get((message_chat_id, message_id))
        if message is None:
            message = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self._chat_object(message_chat_id),
                "from": self.bot_user,
                "text": "…",
            }
            self._store(message)
        query_id = query_id or str(secrets.randbelow(10**18) + 10**18)
        self._callback_queries.setdefault(query_id, False)
        query = {
            "id": query_id,
            "from": user,
            "message": _without_reply(message),
            "chat_instance": str(abs(message_chat_id) * 7 + 13),
            "data": data,
        }
        return {"update_id": update_id or self.next_update_id(), "callback_query": query}

    # -- media builders (content=...) -----------------------------------------------------------

    def photo(
        self, *, width: int = 1280, height: int = 960, file_size: int = 150_000
    ) -> dict[str, Any]:
        """{"photo": [PhotoSize, ...]} with three sizes, largest last."""
        sizes = []
        for scale, size in ((0.0703125, file_size // 40), (0.25, file_size // 8), (1.0, file_size)):
            w, h = max(1, int(width * scale)), max(1, int(height * scale))
            record = self._register_file("photo", size, meta={"width": w, "height": h})
            sizes.append(record)
        return {"photo": sizes}

    def document(
        self,
        file_name: str = "report.pdf",
        *,
        mime_type: str = "application/pdf",
        file_size: int = 24_576,
    ) -> dict[str, Any]:
        """{"document": Document}."""
        meta = {"file_name": file_name, "mime_type": mime_type}
        return {"document": self._register_file("document", file_size, meta=meta)}

    # -- inspection -----------------------------------------------------------------------------

    def calls(self, method: str, *, include_failed: bool = False) -> list[dict[str, Any]]:
        """Params of the answered calls of a method (case-insensitive), in order."""
        return [r.params for r in self.requests_of(method, include_failed=include_failed)]

    def requests_of(self, method: str, *, include_failed: bool = False) -> list[Request]:
        """Requests of a method: successful ones, plus failed ones when asked."""
        name = method.lower()
        return [
            r
            for r in self.requests
            if r.method.lower() == name and (r.status == "ok" or (include_failed and r.failed))
        ]

    @property
    def pending_polls(self) -> int:
        """getUpdates calls currently waiting (1 while a bot is idle and polling)."""
        return self._pending_polls

    @property
    def failed_requests(self) -> list[Request]:
        """Every request that got an error (injected or not)."""
        return [r for r in self.requests if r.failed]

    @property
    def unknown_methods(self) -> list[str]:
        """Methods the fake does not implement that were called (answered 404)."""
        return [r.method for r in self.requests if r.error_code == 404 and not r.injected]

    def sent_to(
        self,
        chat_id: int,
        *,
        thread_id: int | types.EllipsisType | None = ...,
    ) -> list[SentMessage]:
        """Messages delivered to a chat (sends and copies) in order.

        ``thread_id=None`` selects messages outside topics; the default (...) selects all.
        """
        return [
            m
            for m in self.sent
            if m.chat_id == chat_id and (thread_id is ... or m.message_thread_id == thread_id)
        ]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Current state of any known message (incoming or sent)."""
        return self._messages.get((chat_id, message_id))

    def describe(self, last: int = 40) -> str:
        """Readable list of the last requests (getUpdates collapsed) for assertion messages."""
        lines: list[str] = []
        polls = 0
        for req in self.requests[-last * 4 :]:
            if req.method.lower() == "getupdates" and not req.failed:
                polls += 1
                continue
            lines.append(req.summary())
        lines = lines[-last:]
        header = (
            f"{len(self.requests)} requests, {self.get_updates_calls} of them getUpdates "
            f"({polls} recent ones not listed)"
        )
        if self.fake_errors:
            lines.append(f"FAKE SERVER ERRORS: {self.fake_errors}")
        return header + ("\n  " + "\n  ".join(lines) if lines else "\n  (no other requests)")

    # -- waiting --------------------------------------------------------------------------------

    async def wait_for(
        self,
        what: str | Callable[[Request], bool],
        *,
        timeout: float = 10.0,
        count: int = 1,
        since: int = 0,
        include_failed: bool = False,
        **params: Any,
    ) -> list[Request]:
        """Wait until ``count`` answered requests match; returns all matches so far.

        ``what`` is a method name (case-insensitive) or a predicate on Request; ``params`` must
        equal the request's params (e.g. chat_id=-100...). ``since`` skips requests with a lower
        index (use ``mark = len(api.requests)`` before acting). Raises AssertionError listing
        what was received on timeout.
        """
        if isinstance(what, str):
            name = what.lower()

            def by_name(r: Request) -> bool:
                return r.method.lower() == name

            matches: Callable[[Request], bool] = by_name
            label = what
        else:
            matches = what
            label = getattr(what, "__name__", "predicate")

        def collect() -> list[Request]:
            return [
                r
                for r in self.requests[since:]
                if (r.status == "ok" or (include_failed and r.failed))
                and matches(r)
                and all(r.params.get(k) == v for k, v in params.items())
            ]

        try:
            return await self._wait_until(
                lambda: (len(found := collect()) >= count, found), timeout
            )
        except TimeoutError:
            found = collect()
            raise AssertionError(
                f"timed out after {timeout}s waiting for {count} x {label} {params or ''}; "
                f"got {len(found)}.\n{self.describe()}"
            ) from None

    async def wait_sent(
        self,
        chat_id: int,
        *,
        count: int = 1,
        timeout: float = 10.0,
        thread_id: int | types.EllipsisType | None = ...,
        text_contains: str | None = None,
        since: int = 0,
    ) -> list[SentMessage]:
        """Wait until ``count`` messages (optionally containing a text) reached a chat.

        ``since`` is an index into ``api.sent`` (use ``mark = len(api.sent)``).
        """

        def collect() -> list[SentMessage]:
            return [
                m
                for m in self.sent[since:]
                if m.chat_id == chat_id
                and (thread_id is ... or m.message_thread_id == thread_id)
                and (text_contains is None or text_contains in (m.text or ""))
            ]

        try:
            return await self._wait_until(
                lambda: (len(found := collect()) >= count, found), timeout
            )
        except TimeoutError:
            found = collect()
            texts = [m.text for m in self.sent_to(chat_id)]
            raise AssertionError(
                f"timed out after {timeout}s waiting for {count} message(s) to {chat_id} "
                f"(thread {thread_id}, containing {text_contains!r}); got {len(found)}. "
                f"All texts sent to the chat: {texts}\n{self.describe()}"
            ) from None

    async def wait_polling(self, timeout: float = 20.0, *, after: int = 0) -> int:
        """Wait until getUpdates has been called more than ``after`` times; returns the count."""
        try:
            return await self._wait_until(
                lambda: (self.get_updates_calls > after, self.get_updates_calls), timeout
            )
        except TimeoutError:
            raise AssertionError(
                f"nobody called getUpdates within {timeout}s.\n{self.describe()}"
            ) from None

    async def wait_confirmed(self, timeout: float = 10.0) -> None:
        """Wait until every queued update is confirmed and the bot is long-polling again.

        With aiogram's default handle_as_tasks=True this does not mean handlers finished.
        """
        try:
            await self._wait_until(
                lambda: (not self._queue and self._pending_polls > 0, None), timeout
            )
        except TimeoutError:
            raise AssertionError(
                f"{len(self._queue)} update(s) still unconfirmed after {timeout}s "
                f"(pending polls: {self._pending_polls}).\n{self.describe()}"
            ) from None

    async def _wait_until(self, check: Callable[[], tuple[bool, T]], timeout: float) -> T:
        """Re-check after every recorded change until check() says done; TimeoutError if not."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._activity
            done, result = check()
            if done:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _notify(self) -> None:
        event, self._activity = self._activity, asyncio.Event()
        event.set()

    def _wake_pollers(self) -> None:
        event, self._poll_event = self._poll_event, asyncio.Event()
        event.set()
        self._notify()

    # -- flood control --------------------------------------------------------------------------

    def limit_rates(self, limits: RateLimits | None = RateLimits()) -> None:
        """Answer sends over Telegram's limits with 429 + retry_after (None: no limits).

        Off by default: most tests are about what the bot sends, not how fast.
        """
        self._limits = limits
        self._send_times.clear()

    @property
    def rate_limited(self) -> list[Request]:
        """Requests answered 429 by the flood control (not by an injected fault)."""
        return [r for r in self.requests if r.rate_limited]

    def _flood_wait(self, req: Request) -> int:
        """0 when the send is within the limits, else the seconds until it would be."""
        limits = self._limits
        if limits is None or req.method.lower() not in SEND_METHODS:
            return 0
        try:
            chat_id = self._resolve_chat_id(req.params.get("chat_id"))
        except ApiError:
            return 0
        now = req.time
        waits = [0.0]
        overall = sorted(t for times in self._send_times.values() for t in times if t > now - 1)
        if len(overall) >= limits.overall_per_second:
            waits.append(overall[-limits.overall_per_second] + 1 - now)
        mine = [t for t in self._send_times.get(chat_id, []) if t > now - 60]
        if chat_id > 0:
            gap = 1 / limits.private_per_second
            if mine and mine[-1] > now - gap:
                waits.append(mine[-1] + gap - now)
        elif len(mine) >= limits.group_per_minute:
            waits.append(mine[-limits.group_per_minute] + 60 - now)
        wait = max(waits)
        return math.ceil(wait) if wait > 0 else 0

    def _count_send(self, req: Request) -> None:
        if self._limits is None or req.method.lower() not in SEND_METHODS:
            return
        chat_id = int(req.params["chat_id"])
        times = [t for t in self._send_times.get(chat_id, []) if t > req.time - 60]
        self._send_times[chat_id] = [*times, req.time]

    # -- fault injection ------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int | None = 1,
        disconnect: bool = False,
        delay: float = 0.0,
    ) -> Fault:
        """Fail the next ``times`` calls of ``method`` (None = forever).

        ``disconnect=True`` closes the connection without an answer (aiogram raises
        TelegramNetworkError).
        """
        return self._add_fault(
            _method_matcher(method),
            error_code,
            description,
            retry_after,
            times,
            None,
            disconnect,
            delay,
        )

    def fail_every(
        self,
        n: int,
        method: str | None = None,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int | None = None,
        disconnect: bool = False,
    ) -> Fault:
        """Fail every n-th call of ``method`` (or of any method but getUpdates)."""
        if n < 1:
            raise ValueError("n must be >= 1")
        return self._add_fault(
            _method_matcher(method),
            error_code,
            description,
            retry_after,
            times,
            n,
            disconnect,
            0.0,
        )

    def fail_when(
        self,
        predicate: Callable[[Request], bool],
        *,
        method: str | None = None,
        error_code: int = 400,
        description: str | None = None,
        retry_after: int | None = None,
        times: int | None = None,
        disconnect: bool = False,
    ) -> Fault:
        """Fail calls for which ``predicate(request)`` is true.

        For copyMessage ``request.source`` is the original message, e.g.
        ``api.fail_when(lambda r: "document" in (r.source or {}), method="copyMessage")``.
        """
        base = _method_matcher(method)
        return self._add_fault(
            lambda r: base(r) and bool(predicate(r)),
            error_code,
            description,
            retry_after,
            times,
            None,
            disconnect,
            0.0,
        )

    def delay(self, method: str, seconds: float, *, times: int | None = 1) -> Fault:
        """Answer the next ``times`` calls of ``method`` normally but only after ``seconds``."""
        return self._add_fault(
            _method_matcher(method), None, None, None, times, None, False, seconds
        )

    def disconnect(self, method: str, *, times: int | None = 1) -> Fault:
        """Drop the connection for the next ``times`` calls of ``method``."""
        return self.fail(method, error_code=0, times=times, disconnect=True)

    def clear_faults(self) -> None:
        """Cancel every injected fault."""
        for fault in self._faults:
            fault.cancel()
        self._faults.clear()

    def _add_fault(
        self,
        match: Callable[[Request], bool],
        error_code: int | None,
        description: str | None,
        retry_after: int | None,
        times: int | None,
        every: int | None,
        disconnect: bool,
        delay: float,
    ) -> Fault:
        fault = Fault(
            match=match,
            error_code=error_code,
            description=description,
            retry_after=retry_after,
            times=times,
            every=every,
            disconnect=disconnect,
            delay=delay,
        )
        self._faults.append(fault)
        return fault

    def _pick_fault(self, request: Request) -> Fault | None:
        chosen = None
        for fault in list(self._faults):
            if fault._should_fire(request) and chosen is None:
                chosen = fault
        self._faults = [f for f in self._faults if f.active]
        return chosen

    # -- HTTP plumbing --------------------------------------------------------------------------

    async def _parse_body(
        self, request: web.Request
    ) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        params: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                with warnings.catch_warnings():
                    # aiohttp's own multipart reader uses its deprecated unread_data() when a
                    # network chunk ends inside a part (aiohttp#3260): not ours to fix.
                    warnings.filterwarnings("ignore", "unread_data", DeprecationWarning)
                    form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        content = value.file.read()
                        files[key] = UploadedFile(
                            key, value.filename, value.content_type, len(content), content
                        )
                    elif isinstance(value, bytes):
                        params[key] = value.decode()
                    else:
                        params[key] = value
        return params, files

    async def _handle(self, http: web.Request) -> web.StreamResponse:
        raw_method = http.match_info["method"]
        try:
            params, files = await self._parse_body(http)
        except Exception as exc:  # answer garbage like Telegram
            params, files = {"_unparsed": repr(exc)}, {}
        spec = _method_specs().get(raw_method.lower())
        string_fields = spec.string_fields if spec else _GENERIC_STRING_FIELDS
        decoded = {k: _decode_value(k, v, string_fields) for k, v in params.items()}
        referenced = {
            v[len("attach://") :] for v in _iter_strings(decoded) if v.startswith("attach://")
        }
        decoded = _resolve_attachments(decoded, files)
        # Uploads sent under their own field name (not via attach://) are the field's value.
        for key, upload in files.items():
            if key not in referenced:
                decoded.setdefault(key, upload)
        req = Request(
            method=spec.name if spec else raw_method,
            params=decoded,
            time=time.time(),
            index=len(self.requests),
            files=files,
            token=http.match_info["token"],
        )
        if req.method.lower() == "copymessage":
            req.source = self._source_of(decoded)
        self.requests.append(req)
        is_poll = req.method.lower() == "getupdates"
        if is_poll:
            self.get_updates_calls += 1
        self._notify()
        try:
            return await self._dispatch(http, req)
        except asyncio.CancelledError:
            req.status = "cancelled"
            self._notify()
            raise

    async def _dispatch(self, http: web.Request, req: Request) -> web.StreamResponse:
        if self.check_token and req.token != self.token:
            return self._error(req, ApiError(401, "Unauthorized"))
        fault = self._pick_fault(req)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.disconnect:
                return self._drop(http, req)
            if fault.error_code is not None:
                req.injected = True
                payload = fault.error_payload()
                return self._mark_failed(
                    req,
                    payload["error_code"],
                    payload["description"],
                    web.json_response(payload, status=payload["error_code"]),
                )
        handler = self._handlers.get(req.method.lower())
        if handler is None:
            return self._error(req, ApiError(404, "Not Found: method not found"))
        wait = self._flood_wait(req)
        if wait:
            req.rate_limited = True
            description = f"Too Many Requests: retry after {wait}"
            return self._error(req, ApiError(429, description, {"retry_after": wait}))
        try:
            result = await handler(req)
        except ApiError as exc:
            return self._error(req, exc)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("fake Bot API failed on %s", req.method)
            self.fake_errors.append(f"{req.method}: {exc!r}")
            return self._error(req, ApiError(500, f"Internal Server Error: fake failed: {exc!r}"))
        if isinstance(result, web.StreamResponse):  # getUpdates conflict path
            return result
        req.status = "ok"
        req.result = result
        self._count_send(req)
        self._notify()
        return web.json_response({"ok": True, "result": result})

    def _error(self, req: Request, exc: ApiError) -> web.Response:
        return self._mark_failed(
            req,
            exc.error_code,
            exc.description,
            web.json_response(exc.payload(), status=exc.error_code),
        )

    def _mark_failed(
        self, req: Request, code: int, description: str, response: web.Response
    ) -> web.Response:
        req.status = "failed"
        req.failed = True
        req.error_code = code
        req.description = description
        self._notify()
        return response

    def _drop(self, http: web.Request, req: Request) -> web.StreamResponse:
        req.status = "failed"
        req.failed = True
        req.injected = True
        req.description = "connection dropped"
        self._notify()
        transport = http.transport
        if transport is not None:
            transport.abort()
        # The client is gone; aiohttp discards whatever is returned now.
        return web.Response(status=499)

    # -- messages store -------------------------------------------------------------------------

    def _new_message_id(self, chat_id: int) -> int:
        start = 1 if chat_id > 0 else 10
        message_id = self._next_message_id.get(chat_id, start)
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    def _store(self, message: dict[str, Any], *, overwrite: bool = True) -> None:
        key = (int(message["chat"]["id"]), int(message["message_id"]))
        if overwrite or key not in self._messages:
            self._messages[key] = message
        nxt = self._next_message_id.get(key[0], 1 if key[0] > 0 else 10)
        if key[1] >= nxt:
            self._next_message_id[key[0]] = key[1] + 1

    def _remember_incoming(self, message: dict[str, Any]) -> None:
        self._store(message)
        sender = message.get("from")
        if isinstance(sender, dict) and "id" in sender:
            self._users.setdefault(int(sender["id"]), sender)
        chat = message.get("chat", {})
        if isinstance(chat, dict) and chat.get("id", 0) < 0 and chat["id"] not in self._chats:
            self.add_chat(
                chat["id"],
                title=chat.get("title"),
                is_forum=bool(chat.get("is_forum")),
                type=chat.get("type", "supergroup"),
            )

    def _chat_info(self, chat_id: int) -> ChatInfo:
        info = self._chats.get(chat_id)
        if info is None:
            info = self.add_chat(chat_id)
        return info

    def _chat_object(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            user = self._users.get(chat_id) or {"first_name": "User"}
            chat: dict[str, Any] = {
                "id": chat_id,
                "type": "private",
                "first_name": user.get("first_name", "User"),
            }
            for key in ("last_name", "username"):
                if user.get(key):
                    chat[key] = user[key]
            return chat
        info = self._chat_info(chat_id)
        chat = {"id": chat_id, "type": info.type, "title": info.title}
        if info.username:
            chat["username"] = info.username
        if info.is_forum and info.type == "supergroup":
            chat["is_forum"] = True
        return chat

    def _ensure_topic(self, chat_id: int, thread_id: int) -> Topic:
        topics = self._topics.setdefault(chat_id, {})
        topic = topics.get(thread_id)
        if topic is None:
            topic = Topic(chat_id, thread_id, f"Topic {thread_id}")
            topics[thread_id] = topic
            self._store(self._topic_service_message(topic, self.bot_user), overwrite=False)
        return topic

    def _topic_service_message(self, topic: Topic, sender: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = {"name": topic.name, "icon_color": topic.icon_color}
        if topic.icon_custom_emoji_id:
            created["icon_custom_emoji_id"] = topic.icon_custom_emoji_id
        return {
            "message_id": topic.message_thread_id,
            "message_thread_id": topic.message_thread_id,
            "date": int(time.time()),
            "chat": self._chat_object(topic.chat_id),
            "from": sender,
            "forum_topic_created": created,
            "is_topic_message": True,
        }

    def _thread_fields(
        self, chat_id: int, thread_id: int | None, reply_to: int | None
    ) -> dict[str, Any]:
        """message_thread_id / is_topic_message / reply_to_message as Telegram fills them."""
        fields: dict[str, Any] = {}
        if thread_id is not None and chat_id < 0 and self._chat_info(chat_id).is_forum:
            fields["message_thread_id"] = thread_id
            fields["is_topic_message"] = True
            root = self._messages.get((chat_id, thread_id))
            if root is not None and reply_to is None:
                fields["reply_to_message"] = _without_reply(root)
        if reply_to is not None:
            target = self._messages.get((chat_id, reply_to))
            if target is not None:
                fields["reply_to_message"] = _without_reply(target)
        return fields

    def _incoming_message(
        self,
        chat: dict[str, Any],
        user: dict[str, Any],
        text: str | None,
        content: Mapping[str, Any] | None,
        date: int | None,
        message_id: int | None,
        reply_to: int | None,
        entities: list[dict[str, Any]] | None,
        thread_id: int | None,
    ) -> dict[str, Any]:
        chat_id = int(chat["id"])
        message: dict[str, Any] = {
            "message_id": message_id if message_id is not None else self._new_message_id(chat_id),
            "from": user,
            "chat": chat,
            "date": date if date is not None else int(time.time()),
        }
        message.update(self._thread_fields(chat_id, thread_id, reply_to))
        if content:
            message.update(content)
            if text is not None:
                message["caption"] = text
                if entities:
                    message["caption_entities"] = entities
        elif text is not None:
            message["text"] = text
            found = entities if entities is not None else _bot_command_entities(text)
            if found:
                message["entities"] = found
        # Register now so that replies to it and copies of it resolve even before pushing.
        self._store(message)
        return message

    def _register_file(
        self, kind: str, size: int, *, meta: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A PhotoSize or Document object with fresh file ids (the files are not kept)."""
        number = next(self._file_counter)
        prefix = "AgAC" if kind == "photo" else "BQAC"
        obj: dict[str, Any] = {
            "file_id": f"{prefix}AgIAFake{kind.capitalize()}{number:06d}",
            "file_unique_id": f"AQAD{number:06d}{kind[:3]}",
            "file_size": size,
        }
        obj.update(meta or {})
        return obj

    def _source_of(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            chat_id = self._resolve_chat_id(params.get("from_chat_id"))
            return self._messages.get((chat_id, int(params.get("message_id", 0))))
        except (ApiError, TypeError, ValueError):
            return None

    # -- validation helpers ---------------------------------------------------------------------

    def _resolve_chat_id(self, value: Any) -> int:
        if isinstance(value, bool) or value in (None, ""):
            raise bad_request("chat_id is empty")
        if isinstance(value, int):
            return value
        text = str(value)
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if text.startswith("@"):
            for info in self._chats.values():
                if info.username and info.username.lower() == text[1:].lower():
                    return info.id
        raise bad_request("chat not found")

    def _target_chat(self, req: Request, key: str = "chat_id") -> int:
        chat_id = self._resolve_chat_id(req.params.get(key))
        if chat_id > 0 and chat_id in self._blocked:
            raise ApiError(403, self._blocked[chat_id])
        if chat_id < 0 and self.member_status(chat_id, self.bot_id) in ("left", "kicked"):
            raise ApiError(403, "Forbidden: bot is not a member of the supergroup chat")
        return chat_id

    def _target_thread(self, req: Request, chat_id: int) -> int | None:
        raw = req.params.get("message_thread_id")
        if raw in (None, "", 0):
            return None
        thread_id = int(raw)
        if chat_id < 0 and self._chat_info(chat_id).is_forum:
            if thread_id not in self._topics.get(chat_id, {}):
                raise bad_request("message thread not found")
            return thread_id
        return None

    def _reply_to(self, req: Request, chat_id: int) -> int | None:
        params = req.params
        reply = params.get("reply_parameters")
        allow = bool(params.get("allow_sending_without_reply"))
        message_id = params.get("reply_to_message_id")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = allow or bool(reply.get("allow_sending_without_reply"))
            if reply.get("chat_id") not in (None, chat_id):
                return None
        if message_id in (None, ""):
            return None
        message_id = int(message_id)
        if (chat_id, message_id) not in self._messages:
            if not allow:
                raise bad_request("message to be replied not found")
            return None
        return message_id

    def _formatted(
        self, req: Request, text_key: str, entities_key: str, limit: int, *, required: bool
    ) -> tuple[str | None, list[dict[str, Any]]]:
        raw = req.params.get(text_key)
        if raw is None or raw == "":
            if required:
                raise bad_request("message text is empty")
            return None, []
        text = str(raw)
        parse_mode = req.params.get("parse_mode")
        if parse_mode:
            # Telegram would parse the markup; the desk never sets a parse_mode (it sends user
            # text verbatim), so one showing up is a bug the e2e tests must see.
            self.fake_errors.append(
                f"{req.method}: parse_mode={parse_mode!r} (the desk sends plain text)"
            )
            raise bad_request(f"parse_mode {parse_mode!r} is not supported by the fake")
        explicit = req.params.get(entities_key)
        entities = explicit if isinstance(explicit, list) else []
        plain, entities = _strip_text(text, entities)
        if not plain:
            if required:
                raise bad_request("message text is empty")
            return None, []
        if _utf16_len(plain) > limit:
            raise bad_request(
                "message is too long" if text_key == "text" else "message caption is too long"
            )
        for entity in entities:
            end = int(entity.get("offset", -1)) + int(entity.get("length", 0))
            if entity.get("offset", -1) < 0 or end > _utf16_len(plain):
                raise bad_request("can't parse entities: entity beyond the end of the text")
            if entity.get("type") == "text_mention" and not (entity.get("user") or {}).get("id"):
                raise bad_request("can't parse entities: text_mention without a user")
        return plain, entities

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        """Validate reply_markup; returns what a Message echoes (inline keyboards only)."""
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return None
        if not isinstance(rows, list):
            raise bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'
            )
        for row in rows:
            for button in row:
                data = button.get("callback_data")
                size = len(str(data).encode()) if data is not None else 1
                if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    raise bad_request("BUTTON_DATA_INVALID")
                actions = set(button) - {"text", "style", "icon_custom_emoji_id"}
                if not actions:
                    raise bad_request(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
        return {"inline_keyboard": rows}

    # -- delivering -----------------------------------------------------------------------------

    def _deliver(
        self,
        req: Request,
        chat_id: int,
        content: Mapping[str, Any],
        *,
        thread_id: int | None,
        reply_to: int | None,
        markup: dict[str, Any] | None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": self._new_message_id(chat_id),
            "from": self.bot_user,
            "chat": self._chat_object(chat_id),
            "date": int(time.time()),
        }
        message.update(self._thread_fields(chat_id, thread_id, reply_to))
        message.update(content)
        if extra:
            message.update(extra)
        if markup:
            message["reply_markup"] = markup
        if req.params.get("protect_content"):
            message["has_protected_content"] = True
        self._store(message)
        self.sent.append(
            SentMessage(
                method=req.method,
                chat_id=chat_id,
                message_id=message["message_id"],
                message_thread_id=message.get("message_thread_id"),
                params=req.params,
                message=message,
                time=req.time,
                request=req,
            )
        )
        return message

    def _common_targets(
        self, req: Request
    ) -> tuple[int, int | None, int | None, dict[str, Any] | None]:
        chat_id = self._target_chat(req)
        thread_id = self._target_thread(req, chat_id)
        reply_to = self._reply_to(req, chat_id)
        markup = self._check_markup(req.params.get("reply_markup"))
        return chat_id, thread_id, reply_to, markup

    # -- method handlers ------------------------------------------------------------------------

    async def _get_me(self, req: Request) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _set_webhook(self, req: Request) -> bool:
        url = str(req.params.get("url") or "")
        if url and not url.startswith("https://"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook_url = url
        if req.params.get("drop_pending_updates"):
            self._drop_pending()
        return True

    async def _delete_webhook(self, req: Request) -> bool:
        self.webhook_url = ""
        if req.params.get("drop_pending_updates"):
            self._drop_pending()
        return True

    def _drop_pending(self) -> None:
        if self._queue:
            self.confirmed_offset = max(
                self.confirmed_offset, max(q.update_id for q in self._queue) + 1
            )
        self._queue.clear()

    async def _get_updates(self, req: Request) -> Any:
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        params = req.params
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        limit = min(max(limit, 1), 100)
        timeout = float(params.get("timeout") or 0)
        if isinstance(offset, int) and offset > 0:
            self.confirmed_offset = max(self.confirmed_offset, offset)
            self._queue = [
                q
                for q in self._queue
                if not (q.update_id < offset and (q.delivered or not q.forced))
            ]
            self._notify()
        if self._active_poll is not None:
            self._active_poll.conflict = True
        poll = _Poll()
        self._active_poll = poll
        self._wake_pollers()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._pending_polls += 1
        self._notify()
        try:
            while True:
                event = self._poll_event
                if poll.conflict:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                batch = sorted(self._queue, key=lambda q: q.update_id)[:limit]
                if batch or self._closing:
                    break
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
        finally:
            self._pending_polls -= 1
            if self._active_poll is poll:
                self._active_poll = None
        for queued in batch:
            queued.delivered = True
            self._max_delivered_id = max(self._max_delivered_id, queued.update_id)
        return [q.update for q in batch]

    async def _send_message(self, req: Request) -> dict[str, Any]:
        chat_id, thread_id, reply_to, markup = self._common_targets(req)
        text, entities = self._formatted(req, "text", "entities", MAX_TEXT_LENGTH, required=True)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._deliver(
            req, chat_id, content, thread_id=thread_id, reply_to=reply_to, markup=markup
        )

    def _send_media_handler(self, kind: str) -> Handler:
        async def handler(req: Request) -> dict[str, Any]:
            chat_id, thread_id, reply_to, markup = self._common_targets(req)
            media = self._media_object(kind, req.params.get(kind))
            caption, entities = self._formatted(
                req, "caption", "caption_entities", MAX_CAPTION_LENGTH, required=False
            )
            content: dict[str, Any] = {kind: media}
            if caption is not None:
                content["caption"] = caption
                if entities:
                    content["caption_entities"] = entities
            return self._deliver(
                req, chat_id, content, thread_id=thread_id, reply_to=reply_to, markup=markup
            )

        handler.__name__ = f"send_{kind}"
        return handler

    def _media_object(self, kind: str, value: Any) -> Any:
        """Media JSON for an uploaded photo or document (the desk uploads its reports)."""
        if not isinstance(value, UploadedFile):
            raise bad_request(f"there is no {kind} in the request")
        if value.size == 0:
            raise bad_request("file must be non-empty")
        if kind == "photo":
            thumb = self._register_file(
                "photo", max(1, value.size // 8), meta={"width": 320, "height": 240}
            )
            full = self._register_file("photo", value.size, meta={"width": 1280, "height": 960})
            return [thumb, full]
        mime = value.content_type
        if mime in (None, "application/octet-stream"):
            mime = mimetypes.guess_type(value.filename or "")[0] or UPLOAD_KINDS[kind]
        meta = {"mime_type": mime, "file_name": value.filename or "file"}
        return self._register_file(kind, value.size, meta=meta)

    def _copy_content(self, source: Mapping[str, Any], req: Request) -> dict[str, Any]:
        """What a copy of ``source`` shows: its content (text or any media), its caption or
        the ``caption`` of the request. Service messages cannot be copied."""
        content = {k: v for k, v in source.items() if k not in _NOT_CONTENT}
        if not content or any(k in content for k in _SERVICE_KEYS):
            raise bad_request("message can't be copied")
        if "text" in content:
            return content
        if "caption" not in req.params and _utf16_len(source.get("caption") or "") > (
            MAX_CAPTION_LENGTH
        ):
            # A Premium user may write a caption up to 4096 characters; a bot may not send
            # one over 1024, so the copy is refused unless the request replaces it.
            raise bad_request("message caption is too long")
        if "caption" in req.params:
            caption, entities = self._formatted(
                req, "caption", "caption_entities", MAX_CAPTION_LENGTH, required=False
            )
            if caption is not None:
                content["caption"] = caption
                if entities:
                    content["caption_entities"] = entities
        elif source.get("caption"):
            content["caption"] = source["caption"]
            if source.get("caption_entities"):
                content["caption_entities"] = source["caption_entities"]
        return content

    def _copy_source(self, req: Request, message_id: Any) -> dict[str, Any]:
        from_chat = self._resolve_chat_id(req.params.get("from_chat_id"))
        if message_id in (None, ""):
            raise bad_request("message identifier is not specified")
        source = self._messages.get((from_chat, int(message_id)))
        if source is None:
            raise bad_request("message to copy not found")
        return source

    async def _copy_message(self, req: Request) -> dict[str, Any]:
        source = self._copy_source(req, req.params.get("message_id"))
        chat_id, thread_id, reply_to, markup = self._common_targets(req)
        content = self._copy_content(source, req)
        message = self._deliver(
            req, chat_id, content, thread_id=thread_id, reply_to=reply_to, markup=markup
        )
        return {"message_id": message["message_id"]}

    async def _copy_messages(self, req: Request) -> list[dict[str, Any]]:
        """An album (or any run of messages) copied at once, in order; Telegram skips the
        messages it cannot copy (a caption over 1024 characters unless `remove_caption`)
        and keeps the album together under a new media group id."""
        ids = req.params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise bad_request("message identifiers are not specified")
        if [int(i) for i in ids] != sorted({int(i) for i in ids}):
            raise bad_request("message identifiers must be in a strictly increasing order")
        chat_id = self._target_chat(req)
        thread_id = self._target_thread(req, chat_id)
        if req.params.get("reply_to_message_id") or req.params.get("reply_parameters"):
            raise bad_request("copyMessages does not reply")
        remove_caption = bool(req.params.get("remove_caption"))
        contents = []
        for message_id in ids:
            source = self._messages.get((self._resolve_chat_id(req.params["from_chat_id"]),
                                         int(message_id)))  # fmt: skip
            if source is None or any(k in source for k in _SERVICE_KEYS):
                continue
            content = {k: v for k, v in source.items() if k not in _NOT_CONTENT}
            caption = source.get("caption")
            if caption and not remove_caption:
                if _utf16_len(caption) > MAX_CAPTION_LENGTH:
                    continue
                content["caption"] = caption
            contents.append((content, source.get("media_group_id")))
        if not contents:
            raise bad_request("there are no messages to copy")
        group = f"{secrets.randbelow(10**17) + 10**17}"
        copies = []
        for content, source_group in contents:
            extra = {"media_group_id": group} if source_group else None
            message = self._deliver(
                req, chat_id, content, thread_id=thread_id, reply_to=None, markup=None, extra=extra
            )
            copies.append({"message_id": message["message_id"]})
        return copies

    async def _edit_message_caption(self, req: Request) -> Any:
        message = self._editable(req)
        caption, entities = self._formatted(
            req, "caption", "caption_entities", MAX_CAPTION_LENGTH, required=False
        )
        markup = self._check_markup(req.params.get("reply_markup"))
        if message is None:
            return True
        if not any(k in message for k in (*MEDIA_KEYS, "video", "audio", "animation")):
            raise bad_request("there is no caption in the message to edit")
        return self._apply_edit(
            message,
            {"caption": caption, "caption_entities": entities or None, "reply_markup": markup},
        )

    def _editable(self, req: Request) -> dict[str, Any] | None:
        """The stored message an edit refers to, or None for inline messages."""
        if req.params.get("inline_message_id"):
            return None
        chat_id = self._resolve_chat_id(req.params.get("chat_id"))
        message_id = req.params.get("message_id")
        if message_id in (None, ""):
            raise bad_request("message identifier is not specified")
        message = self._messages.get((chat_id, int(message_id)))
        if message is None:
            raise bad_request("message to edit not found")
        if (message.get("from") or {}).get("id") != self.bot_id:
            raise bad_request("message can't be edited")
        return message

    def _apply_edit(self, message: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        current = {k: message.get(k) for k in changes}
        if current == changes:
            raise bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edit_date"] = int(time.time())
        return message

    async def _edit_message_text(self, req: Request) -> Any:
        message = self._editable(req)
        text, entities = self._formatted(req, "text", "entities", MAX_TEXT_LENGTH, required=True)
        markup = self._check_markup(req.params.get("reply_markup"))
        if message is None:
            return True
        if "text" not in message and any(k in message for k in MEDIA_KEYS):
            raise bad_request("there is no text in the message to edit")
        return self._apply_edit(
            message, {"text": text, "entities": entities or None, "reply_markup": markup}
        )

    async def _answer_callback_query(self, req: Request) -> bool:
        query_id = str(req.params.get("callback_query_id") or "")
        text = req.params.get("text")
        if self._callback_queries.get(query_id, True):
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        if text and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = True
        return True

    async def _set_my_commands(self, req: Request) -> bool:
        commands = req.params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            name = str(command.get("command", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
        scope = json.dumps(req.params.get("scope") or {"type": "default"}, sort_keys=True)
        self._commands[f"{scope}|{req.params.get('language_code') or ''}"] = commands
        return True

    def _forum(self, req: Request, *, manage: bool = True) -> int:
        chat_id = self._target_chat(req)
        if chat_id > 0 or not self._chat_info(chat_id).is_forum:
            raise bad_request("the chat is not a forum")
        if manage and self.member_status(chat_id, self.bot_id) not in ("administrator", "creator"):
            raise bad_request("not enough rights to create a topic")
        return chat_id

    def _topic(self, chat_id: int, req: Request) -> Topic:
        raw = req.params.get("message_thread_id")
        topic = self._topics.get(chat_id, {}).get(int(raw or 0))
        if topic is None:
            raise bad_request("TOPIC_ID_INVALID")
        return topic

    async def _create_forum_topic(self, req: Request) -> dict[str, Any]:
        chat_id = self._forum(req)
        name = str(req.params.get("name") or "")
        if not name.strip():
            raise bad_request("TOPIC_NAME_EMPTY" if not name else "TOPIC_NAME_INVALID")
        if len(name) > 128:
            raise bad_request("TOPIC_NAME_INVALID")
        color = int(req.params.get("icon_color") or TOPIC_ICON_COLORS[0])
        if color not in TOPIC_ICON_COLORS:
            raise bad_request("TOPIC_COLOR_INVALID")
        topic = self.create_topic(chat_id, name, icon_color=color)
        emoji = req.params.get("icon_custom_emoji_id")
        result: dict[str, Any] = {
            "message_thread_id": topic.message_thread_id,
            "name": name,
            "icon_color": color,
        }
        if emoji:
            topic.icon_custom_emoji_id = str(emoji)
            result["icon_custom_emoji_id"] = str(emoji)
        return result

    async def _edit_forum_topic(self, req: Request) -> bool:
        chat_id = self._forum(req)
        topic = self._topic(chat_id, req)
        name = req.params.get("name")
        emoji = req.params.get("icon_custom_emoji_id")
        changed = False
        if name not in (None, ""):
            if len(str(name)) > 128:
                raise bad_request("TOPIC_NAME_INVALID")
            changed = changed or str(name) != topic.name
            topic.name = str(name)
        if emoji is not None:
            changed = changed or (emoji or None) != topic.icon_custom_emoji_id
            topic.icon_custom_emoji_id = str(emoji) or None
        if not changed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        return True

    async def _close_forum_topic(self, req: Request) -> bool:
        return self._set_topic_closed(req, closed=True)

    async def _reopen_forum_topic(self, req: Request) -> bool:
        return self._set_topic_closed(req, closed=False)

    def _set_topic_closed(self, req: Request, *, closed: bool) -> bool:
        chat_id = self._forum(req)
        topic = self._topic(chat_id, req)
        if topic.closed == closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = closed
        return True

    async def _set_message_reaction(self, req: Request) -> bool:
        """The bot's reaction on a message: standard emoji only, replacing its previous one."""
        chat_id = self._target_chat(req)
        message_id = req.params.get("message_id")
        if message_id in (None, "") or self._messages.get((chat_id, int(message_id))) is None:
            raise bad_request("MESSAGE_ID_INVALID")
        reaction = req.params.get("reaction") or []
        if isinstance(reaction, str):
            reaction = json.loads(reaction)
        emojis = []
        for item in reaction:
            if item.get("type") != "emoji" or item.get("emoji") not in STANDARD_REACTIONS:
                raise bad_request("REACTION_INVALID")
            emojis.append(item["emoji"])
        if len(emojis) > 1:
            raise bad_request("REACTIONS_TOO_MANY")
        self.reactions[(chat_id, int(message_id))] = emojis
        return True


def _without_reply(message: Mapping[str, Any]) -> dict[str, Any]:
    """Telegram nests replied-to messages one level deep only."""
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def _iter_strings(value: Any) -> Iterable[str]:
    """Every string nested in decoded params (to find attach:// references)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _iter_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _iter_strings(item)


def _method_matcher(method: str | None) -> Callable[[Request], bool]:
    """Case-insensitive method filter; None matches everything except getUpdates."""
    if method is None:
        return lambda r: r.method.lower() != "getupdates"
    name = method.lower()
    return lambda r: r.method.lower() == name
