"""A fake Telegram Bot API server for tests.

No machine that runs the tests can reach Telegram, so the real bot (or a bare aiogram ``Bot``)
is pointed at this server with ``TelegramAPIServer.from_base(api.base_url)``. The server runs
inside the test's event loop, records every request, answers with JSON shaped like Telegram's
(so aiogram parses it into its types), long-polls ``getUpdates`` like Telegram and can inject
faults (429, 4xx, 5xx, dropped connections, delays).

Where it was cheap, the fake also rejects what Telegram rejects (HTML/MarkdownV2 that does not
parse, texts over 4096 characters, callback data over 64 bytes, editing a message that does not
exist or with identical content, posting to a deleted topic, ...): those are the failures a bot
meets first in production. ``FakeBotAPI(strict=False)`` turns the message-level checks off.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import mimetypes
import re
import secrets
import socket
import time
import types
import typing
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
TOPIC_ICON_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER_LENGTH = 200

# Keys of a message that carry its content (what copyMessage/forwardMessage reproduce).
MEDIA_KEYS = (
    "photo",
    "document",
    "video",
    "voice",
    "audio",
    "animation",
    "sticker",
    "video_note",
    "location",
    "contact",
    "venue",
    "poll",
    "dice",
)
# Media sent by sendXxx(<field>=...): field name -> default mime type.
UPLOAD_KINDS: dict[str, str | None] = {
    "photo": "image/jpeg",
    "document": "application/octet-stream",
    "video": "video/mp4",
    "voice": "audio/ogg",
    "audio": "audio/mpeg",
    "animation": "video/mp4",
    "sticker": "image/webp",
    "video_note": "video/mp4",
}

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
    result: Any = None
    #: For copy/forward calls: the message being copied (None if it is unknown).
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
    """A message the bot delivered to a chat (send*, copy*, forward*)."""

    method: str
    chat_id: int
    message_id: int
    message_thread_id: int | None
    params: dict[str, Any]
    #: The message as Telegram would return it now (edits update it).
    message: dict[str, Any]
    time: float
    request: Request | None = field(default=None, repr=False)
    deleted: bool = False

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
    deleted: bool = False


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
    migrate_to_chat_id: int | None = None
    times: int | None = 1
    every: int | None = None
    disconnect: bool = False
    delay: float = 0.0
    body: str | None = None
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
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        description = self.description or _default_description(code, retry_after)
        payload: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            payload["parameters"] = parameters
        return payload


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
# Entity parsing (parse_mode). Mirrors the rules and error texts of Telegram's parser closely
# enough to catch unescaped user text, which is the usual production failure.
# ---------------------------------------------------------------------------------------------


class EntityParseError(Exception):
    """Telegram's "can't parse entities" error."""


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_HTML_ATTR = re.compile(r"""([a-zA-Z_-]+)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


class _EntityBuilder:
    """Accumulates plain text and entities with UTF-16 offsets, as the Bot API reports them."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length16 = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length16 += _utf16_len(text)

    def close(self, entity: dict[str, Any], start: int) -> None:
        if self.length16 > start:
            self.entities.append({**entity, "offset": start, "length": self.length16 - start})

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into plain text + entities, or raise EntityParseError."""
    out = _EntityBuilder()
    stack: list[tuple[str, dict[str, Any] | None, int]] = []
    i, n = 0, len(text)

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode())

    while i < n:
        char = text[i]
        if char == "&":
            m = _HTML_ENTITY.match(text, i)
            if m:
                named, dec, hexa = m.groups()
                if named:
                    out.add({"lt": "<", "gt": ">", "amp": "&", "quot": '"'}[named])
                else:
                    out.add(chr(int(dec) if dec else int(hexa, 16)))
                i = m.end()
                continue
            out.add("&")
            i += 1
            continue
        if char != "<":
            j = i
            while j < n and text[j] not in "<&":
                j += 1
            out.add(text[i:j])
            i = j
            continue
        begin = i
        if i + 1 < n and text[i + 1] == "/":
            end = text.find(">", i)
            if end == -1:
                raise EntityParseError(f"Unclosed end tag at byte offset {byte_offset(begin)}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {byte_offset(begin)}")
            open_name, closed, start = stack.pop()
            if name != open_name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {byte_offset(begin)}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            if closed is not None:
                out.close(closed, start)
            i = end + 1
            continue
        j = i + 1
        while j < n and not text[j].isspace() and text[j] not in ">":
            j += 1
        if j >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        name = text[i + 1 : j].lower()
        if name not in _HTML_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {byte_offset(begin)}'
            )
        end = text.find(">", j)
        if end == -1:
            raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(begin)}")
        attrs = {
            m.group(1).lower(): next((g for g in m.groups()[1:] if g is not None), "")
            for m in _HTML_ATTR.finditer(text[j:end])
        }
        entity: dict[str, Any] = {"type": _HTML_TAGS[name]}
        keep = True
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError('Tag "span" must have class "tg-spoiler"')
        if name == "a":
            href = attrs.get("href")
            if not href:
                keep = False
            elif href.startswith("tg://user?id="):
                entity = {
                    "type": "text_mention",
                    "user": {
                        "id": int(href.split("=", 1)[1] or 0),
                        "is_bot": False,
                        "first_name": "User",
                    },
                }
            else:
                entity["url"] = href
        elif name == "tg-emoji":
            entity["custom_emoji_id"] = attrs.get("emoji-id", "")
        elif name == "blockquote" and "expandable" in attrs:
            entity["type"] = "expandable_blockquote"
        elif name == "code" and stack and stack[-1][0] == "pre" and stack[-1][1] is not None:
            language = attrs.get("class", "")
            if language.startswith("language-"):
                stack[-1][1]["language"] = language[len("language-") :]
        stack.append((name, entity if keep else None, out.length16))
        i = end + 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
}


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2 (reserved characters must be escaped) or raise EntityParseError."""
    out = _EntityBuilder()
    stack: list[tuple[str, int, int]] = []  # (type, utf16 start, byte offset)
    i, n = 0, len(text)

    def byte_offset(pos: int) -> int:
        return len(text[:pos].encode())

    def top() -> str | None:
        return stack[-1][0] if stack else None

    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and ord(text[i + 1]) < 127:
            out.add(text[i + 1])
            i += 2
            continue
        if top() in ("code", "pre"):
            closing = "```" if top() == "pre" else "`"
            if text.startswith(closing, i):
                kind, start, _ = stack.pop()
                out.close({"type": kind}, start)
                i += len(closing)
            else:
                out.add(char)
                i += 1
            continue
        delimiter: tuple[str, int] | None = None
        if text.startswith("```", i):
            delimiter = ("pre", 3)
        elif char == "`":
            delimiter = ("code", 1)
        elif text.startswith("__", i):
            delimiter = ("underline", 2)
        elif char == "_":
            delimiter = ("italic", 1)
        elif char == "*":
            delimiter = ("bold", 1)
        elif char == "~":
            delimiter = ("strikethrough", 1)
        elif text.startswith("||", i):
            delimiter = ("spoiler", 2)
        if delimiter is not None:
            kind, width = delimiter
            if kind == "pre":
                stack.append((kind, out.length16, byte_offset(i)))
                newline = text.find("\n", i + 3)
                fence_end = text.find("```", i + 3)
                has_language = newline != -1 and (fence_end == -1 or newline < fence_end)
                if has_language and re.fullmatch(r"[\w+#.-]*", text[i + 3 : newline]):
                    i = newline + 1
                else:
                    i += 3
                continue
            if any(entry[0] == kind for entry in stack) and kind not in ("code", "pre"):
                while stack:
                    open_kind, start, _ = stack.pop()
                    out.close({"type": open_kind}, start)
                    if open_kind == kind:
                        break
            else:
                stack.append((kind, out.length16, byte_offset(i)))
            i += width
            continue
        if char == "[":
            stack.append(("text_link", out.length16, byte_offset(i)))
            i += 1
            continue
        if char == "]" and top() == "text_link":
            _, start, _ = stack.pop()
            if i + 1 < n and text[i + 1] == "(":
                close = text.find(")", i + 2)
                if close == -1:
                    raise EntityParseError(
                        f"Can't find end of a url at byte offset {byte_offset(i)}"
                    )
                url = text[i + 2 : close].replace("\\)", ")").replace("\\\\", "\\")
                out.close({"type": "text_link", "url": url}, start)
                i = close + 1
            else:
                i += 1
            continue
        if char == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1
            continue
        if char in _MDV2_RESERVED:
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        out.add(char)
        i += 1
    if stack:
        kind, _, offset = stack[-1]
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {offset}"
        )
    return out.result()


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Markdown (*bold*, _italic_, `code`, ```pre```, [text](url))."""
    out = _EntityBuilder()
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if char in "*_`[":
            offset = len(text[:i].encode())
            if text.startswith("```", i):
                end = text.find("```", i + 3)
                if end == -1:
                    raise EntityParseError(
                        f"Can't find end of the entity starting at byte offset {offset}"
                    )
                start = out.length16
                out.add(text[i + 3 : end])
                out.close({"type": "pre"}, start)
                i = end + 3
                continue
            if char == "[":
                close = text.find("]", i + 1)
                if close == -1 or close + 1 >= n or text[close + 1] != "(":
                    raise EntityParseError(
                        f"Can't find end of the entity starting at byte offset {offset}"
                    )
                url_end = text.find(")", close + 2)
                if url_end == -1:
                    raise EntityParseError(
                        f"Can't find end of the entity starting at byte offset {offset}"
                    )
                start = out.length16
                out.add(text[i + 1 : close])
                out.close({"type": "text_link", "url": text[close + 2 : url_end]}, start)
                i = url_end + 1
                continue
            end = text.find(char, i + 1)
            if end == -1:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {offset}"
                )
            start = out.length16
            out.add(text[i + 1 : end])
            kind = {"*": "bold", "_": "italic", "`": "code"}[char]
            out.close({"type": kind}, start)
            i = end + 1
            continue
        out.add(char)
        i += 1
    return out.result()


def parse_entities(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Apply parse_mode like Telegram does; returns (plain text, entities)."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    if mode:
        raise EntityParseError(f"Unsupported parse_mode {parse_mode!r}")
    return text, []


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


@dataclass
class _FileRecord:
    file_id: str
    file_unique_id: str
    size: int
    path: str
    meta: dict[str, Any]
    content: bytes | None = None


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
        strict: bool = True,
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
        self.strict = strict
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
        self._files: dict[str, _FileRecord] = {}
        self._file_counter = itertools.count(1)
        self._callback_queries: dict[str, bool] = {}
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self._menu_buttons: dict[int | None, dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._media_group_ids = itertools.count(13_000_000_000_000_000)

        self._handlers: dict[str, Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "logout": self._true,
            "close": self._true,
            "sendmessage": self._send_message,
            "copymessage": self._copy_message,
            "copymessages": self._copy_messages,
            "forwardmessage": self._forward_message,
            "forwardmessages": self._forward_messages,
            "sendlocation": self._send_location,
            "sendcontact": self._send_contact,
            "sendvenue": self._send_venue,
            "senddice": self._send_dice,
            "sendmediagroup": self._send_media_group,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "setchatmenubutton": self._set_chat_menu_button,
            "getchatmenubutton": self._get_chat_menu_button,
            "getchat": self._get_chat,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "getchatmembercount": self._get_chat_member_count,
            "createforumtopic": self._create_forum_topic,
            "editforumtopic": self._edit_forum_topic,
            "closeforumtopic": self._close_forum_topic,
            "reopenforumtopic": self._reopen_forum_topic,
            "deleteforumtopic": self._delete_forum_topic,
            "getforumtopiciconstickers": self._get_forum_topic_icon_stickers,
            "getfile": self._get_file,
        }
        for kind in UPLOAD_KINDS:
            name = "send" + kind.replace("_", " ").title().replace(" ", "")
            self._handlers[name.lower()] = self._send_media_handler(kind)
        for name in (
            "sendChatAction",
            "setMyDescription",
            "setMyShortDescription",
            "setMyName",
            "setMyDefaultAdministratorRights",
            "pinChatMessage",
            "unpinChatMessage",
            "unpinAllChatMessages",
            "setMessageReaction",
            "leaveChat",
            "banChatMember",
            "unbanChatMember",
            "restrictChatMember",
            "unpinAllForumTopicMessages",
            "editGeneralForumTopic",
            "closeGeneralForumTopic",
            "reopenGeneralForumTopic",
            "hideGeneralForumTopic",
            "unhideGeneralForumTopic",
        ):
            self._handlers[name.lower()] = self._true

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> Self:
        """Bind 127.0.0.1 on a free port and start serving in the running event loop."""
        if self._runner is not None:
            return self
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
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

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """Change a user's status in a chat ("left", "kicked", "restricted", ...)."""
        self._members[(chat_id, user_id)] = status

    def remove_member(self, chat_id: int, user_id: int) -> None:
        """The user leaves the chat (status "left")."""
        self._members[(chat_id, user_id)] = "left"

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
        """Topics of a chat by message_thread_id (including closed and deleted ones)."""
        return dict(self._topics.get(chat_id, {}))

    def add_file(
        self, content: bytes, *, file_name: str = "file.bin", kind: str = "document"
    ) -> dict[str, Any]:
        """Register downloadable content; returns the media object (e.g. for content=...)."""
        return self._register_file(kind, len(content), content=content, file_name=file_name)

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
        self, update: Mapping[str, Any], text: str, *, edit_date: int | None = None
    ) -> dict[str, Any]:
        """Build an ``edited_message`` update for a message built earlier."""
        message = dict(update["message"])
        key = "caption" if any(k in message for k in MEDIA_KEYS) else "text"
        message[key] = text
        message["edit_date"] = edit_date or int(time.time())
        return {"update_id": self.next_update_id(), "edited_message": message}

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

    def video(
        self,
        *,
        duration: int = 12,
        width: int = 1280,
        height: int = 720,
        file_size: int = 2_500_000,
        mime_type: str = "video/mp4",
        file_name: str | None = "video.mp4",
    ) -> dict[str, Any]:
        """{"video": Video}."""
        meta: dict[str, Any] = {
            "duration": duration,
            "width": width,
            "height": height,
            "mime_type": mime_type,
        }
        if file_name:
            meta["file_name"] = file_name
        return {"video": self._register_file("video", file_size, meta=meta)}

    def voice(self, *, duration: int = 4, file_size: int = 9_000) -> dict[str, Any]:
        """{"voice": Voice}."""
        meta = {"duration": duration, "mime_type": "audio/ogg"}
        return {"voice": self._register_file("voice", file_size, meta=meta)}

    def audio(
        self, *, duration: int = 180, file_size: int = 3_000_000, title: str = "Track"
    ) -> dict[str, Any]:
        """{"audio": Audio}."""
        meta = {"duration": duration, "mime_type": "audio/mpeg", "title": title}
        return {"audio": self._register_file("audio", file_size, meta=meta)}

    def animation(self, *, duration: int = 3, file_size: int = 300_000) -> dict[str, Any]:
        """{"animation": Animation} (Telegram also adds a document for GIFs)."""
        meta = {
            "duration": duration,
            "width": 320,
            "height": 240,
            "mime_type": "video/mp4",
            "file_name": "animation.mp4",
        }
        record = self._register_file("animation", file_size, meta=meta)
        return {"animation": record, "document": dict(record)}

    def video_note(self, *, duration: int = 5, file_size: int = 400_000) -> dict[str, Any]:
        """{"video_note": VideoNote}."""
        meta = {"duration": duration, "length": 240}
        return {"video_note": self._register_file("video_note", file_size, meta=meta)}

    def sticker(self, *, emoji: str = "👍", file_size: int = 20_000) -> dict[str, Any]:
        """{"sticker": Sticker} (a regular static sticker)."""
        meta = {
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return {"sticker": self._register_file("sticker", file_size, meta=meta)}

    @staticmethod
    def location(latitude: float = 43.238949, longitude: float = 76.889709) -> dict[str, Any]:
        """{"location": Location} (Almaty by default)."""
        return {"location": {"latitude": latitude, "longitude": longitude}}

    @staticmethod
    def contact(
        phone_number: str = "+77001234567",
        first_name: str = "Client",
        *,
        last_name: str | None = None,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """{"contact": Contact}."""
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
        if last_name:
            contact["last_name"] = last_name
        if user_id is not None:
            contact["user_id"] = user_id
        return {"contact": contact}

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
        include_deleted: bool = True,
    ) -> list[SentMessage]:
        """Messages delivered to a chat (sends, copies, forwards) in order.

        ``thread_id=None`` selects messages outside topics; the default (...) selects all.
        """
        return [
            m
            for m in self.sent
            if m.chat_id == chat_id
            and (thread_id is ... or m.message_thread_id == thread_id)
            and (include_deleted or not m.deleted)
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
        body: str | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> Fault:
        """Fail the next ``times`` calls of ``method`` (None = forever).

        ``disconnect=True`` closes the connection without an answer (aiogram raises
        TelegramNetworkError); ``body`` sends a raw non-JSON body (e.g. an nginx 502 page).
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
            body,
            migrate_to_chat_id,
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
        body: str | None = None,
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
            body,
            None,
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
        body: str | None = None,
    ) -> Fault:
        """Fail calls for which ``predicate(request)`` is true.

        For copyMessage/forwardMessage ``request.source`` is the original message, e.g.
        ``api.fail_when(lambda r: "video" in (r.source or {}), method="copyMessage")``.
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
            body,
            None,
        )

    def delay(self, method: str, seconds: float, *, times: int | None = 1) -> Fault:
        """Answer the next ``times`` calls of ``method`` normally but only after ``seconds``."""
        return self._add_fault(
            _method_matcher(method), None, None, None, times, None, False, seconds, None, None
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
        body: str | None,
        migrate_to_chat_id: int | None,
    ) -> Fault:
        fault = Fault(
            match=match,
            error_code=error_code,
            description=description,
            retry_after=retry_after,
            migrate_to_chat_id=migrate_to_chat_id,
            times=times,
            every=every,
            disconnect=disconnect,
            delay=delay,
            body=body,
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
        if req.method.lower() in ("copymessage", "forwardmessage"):
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
                if fault.body is not None:
                    return self._mark_failed(
                        req,
                        fault.error_code,
                        fault.body,
                        web.Response(
                            status=fault.error_code, text=fault.body, content_type="text/html"
                        ),
                    )
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

    async def _handle_file(self, http: web.Request) -> web.StreamResponse:
        if self.check_token and http.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        path = http.match_info["path"]
        for record in self._files.values():
            if record.path == path:
                content = record.content
                if content is None:
                    content = bytes(min(record.size, 1024 * 1024))
                return web.Response(body=content, content_type="application/octet-stream")
        return web.json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
        )

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
        self,
        kind: str,
        size: int,
        *,
        meta: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        file_name: str | None = None,
    ) -> dict[str, Any]:
        number = next(self._file_counter)
        prefix = {
            "photo": "AgAC",
            "document": "BQAC",
            "video": "BAAC",
            "voice": "AwAC",
            "audio": "CQAC",
            "sticker": "CAAC",
            "animation": "CgAC",
            "video_note": "DQAC",
        }.get(kind, "BQAC")
        file_id = f"{prefix}AgIAFake{kind.capitalize()}{number:06d}"
        unique = f"AQAD{number:06d}{kind[:3]}"
        obj: dict[str, Any] = {"file_id": file_id, "file_unique_id": unique, "file_size": size}
        if meta:
            obj.update(meta)
        if file_name and kind != "photo":
            obj.setdefault("file_name", file_name)
        folder = {
            "photo": "photos",
            "voice": "voice",
            "video": "videos",
            "audio": "music",
            "sticker": "stickers",
            "animation": "animations",
            "video_note": "video_notes",
        }.get(kind, "documents")
        self._files[file_id] = _FileRecord(
            file_id, unique, size, f"{folder}/file_{number}", dict(obj), content
        )
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
            topic = self._topics.get(chat_id, {}).get(thread_id)
            if topic is None:
                topic = self._ensure_topic(chat_id, thread_id)
            if topic.deleted:
                raise bad_request("message thread not found")
            bot_status = self.member_status(chat_id, self.bot_id)
            if topic.closed and bot_status not in ("administrator", "creator"):
                raise bad_request("TOPIC_CLOSED")
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
            if self.strict and not allow:
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
        explicit = req.params.get(entities_key)
        if isinstance(explicit, list):
            plain, entities = text, explicit
        else:
            try:
                plain, entities = parse_entities(text, req.params.get("parse_mode"))
            except EntityParseError as exc:
                if not self.strict:
                    return text, []
                raise bad_request(f"can't parse entities: {exc}") from None
        plain, entities = _strip_text(plain, entities)
        if not plain:
            if required:
                raise bad_request("message text is empty")
            return None, []
        if self.strict and len(plain) > limit:
            raise bad_request(
                "message is too long" if text_key == "text" else "message caption is too long"
            )
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
                if self.strict:
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
                    url = button.get("url")
                    if url is not None and not re.match(r"^(https?|tg)://\S+$", str(url)):
                        raise bad_request("BUTTON_URL_INVALID")
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

    async def _true(self, req: Request) -> bool:
        return True

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

    async def _get_webhook_info(self, req: Request) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue),
        }
        if self.webhook_url:
            info["max_connections"] = 40
        return info

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
            if kind == "animation":
                content["document"] = dict(media)
            if caption is not None and kind not in ("sticker", "video_note"):
                content["caption"] = caption
                if entities:
                    content["caption_entities"] = entities
            return self._deliver(
                req, chat_id, content, thread_id=thread_id, reply_to=reply_to, markup=markup
            )

        handler.__name__ = f"send_{kind}"
        return handler

    @staticmethod
    def _default_meta(
        kind: str, content_type: str | None, filename: str | None = None
    ) -> dict[str, Any]:
        """Required fields of each media type that an upload does not tell us."""
        meta: dict[str, Any] = {}
        if kind in ("video", "animation"):
            meta = {"width": 640, "height": 360, "duration": 1}
        elif kind in ("voice", "audio"):
            meta = {"duration": 1}
        elif kind == "video_note":
            meta = {"length": 240, "duration": 1}
        elif kind == "sticker":
            meta = {
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        elif kind == "photo":
            meta = {"width": 1280, "height": 960}
        if kind not in ("photo", "sticker", "video_note"):
            guessed = mimetypes.guess_type(filename or "")[0]
            if content_type in (None, "application/octet-stream") and guessed:
                content_type = guessed
            meta["mime_type"] = content_type or UPLOAD_KINDS[kind]
        return meta

    def _media_object(self, kind: str, value: Any) -> Any:
        """Media JSON for a sendXxx value: an upload, a known file_id or a URL."""
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            name = value.rsplit("/", 1)[-1] or kind
            value = UploadedFile(kind, name, None, 1024, b"")
        if isinstance(value, UploadedFile):
            if value.size == 0 and value.content:
                raise bad_request("file must be non-empty")
            meta = self._default_meta(kind, value.content_type, value.filename)
            if kind == "photo":
                thumb = self._register_file(
                    "photo", max(1, value.size // 8), meta={"width": 320, "height": 240}
                )
                full = self._register_file("photo", value.size, meta=meta, content=value.content)
                return [thumb, full]
            return self._register_file(
                kind, value.size, meta=meta, content=value.content, file_name=value.filename
            )
        if isinstance(value, str) and value:
            record = self._files.get(value)
            if record is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            return [dict(record.meta)] if kind == "photo" else dict(record.meta)
        raise bad_request(f"there is no {kind} in the request")

    async def _send_location(self, req: Request) -> dict[str, Any]:
        chat_id, thread_id, reply_to, markup = self._common_targets(req)
        location = {
            "latitude": float(req.params["latitude"]),
            "longitude": float(req.params["longitude"]),
        }
        return self._deliver(
            req,
            chat_id,
            {"location": location},
            thread_id=thread_id,
            reply_to=reply_to,
            markup=markup,
        )

    async def _send_contact(self, req: Request) -> dict[str, Any]:
        chat_id, thread_id, reply_to, markup = self._common_targets(req)
        contact = {
            k: req.params[k]
            for k in ("phone_number", "first_name", "last_name", "vcard")
            if req.params.get(k)
        }
        if "phone_number" not in contact or "first_name" not in contact:
            raise bad_request("phone_number and first_name are required")
        return self._deliver(
            req,
            chat_id,
            {"contact": contact},
            thread_id=thread_id,
            reply_to=reply_to,
            markup=markup,
        )

    async def _send_venue(self, req: Request) -> dict[str, Any]:
        chat_id, thread_id, reply_to, markup = self._common_targets(req)
        location = {
            "latitude": float(req.params["latitude"]),
            "longitude": float(req.params["longitude"]),
        }
        venue = {
            "location": location,
            "title": str(req.params.get("title", "")),
            "address": str(req.params.get("address", "")),
        }
        return self._deliver(
            req,
            chat_id,
            {"venue": venue, "location": location},
            thread_id=thread_id,
            reply_to=reply_to,
            markup=markup,
        )

    async def _send_dice(self, req: Request) -> dict[str, Any]:
        chat_id, thread_id, reply_to, markup = self._common_targets(req)
        dice = {"emoji": str(req.params.get("emoji") or "🎲"), "value": 3}
        return self._deliver(
            req, chat_id, {"dice": dice}, thread_id=thread_id, reply_to=reply_to, markup=markup
        )

    async def _send_media_group(self, req: Request) -> list[dict[str, Any]]:
        chat_id = self._target_chat(req)
        thread_id = self._target_thread(req, chat_id)
        reply_to = self._reply_to(req, chat_id)
        media = req.params.get("media")
        if not isinstance(media, list) or not 2 <= len(media) <= 10:
            raise bad_request(
                "MEDIA_GROUP_INVALID" if isinstance(media, list) else "media group is empty"
            )
        group_id = str(next(self._media_group_ids))
        messages = []
        for item in media:
            kind = str(item.get("type", "document"))
            if kind not in UPLOAD_KINDS:
                raise bad_request(f"unsupported media type {kind!r}")
            content: dict[str, Any] = {
                kind: self._media_object(kind, item.get("media")),
                "media_group_id": group_id,
            }
            if item.get("caption"):
                sub = Request(
                    req.method,
                    {"caption": item["caption"], "parse_mode": item.get("parse_mode")},
                    req.time,
                    req.index,
                )
                caption, entities = self._formatted(
                    sub, "caption", "caption_entities", MAX_CAPTION_LENGTH, required=False
                )
                if caption:
                    content["caption"] = caption
                    if entities:
                        content["caption_entities"] = entities
            messages.append(
                self._deliver(
                    req, chat_id, content, thread_id=thread_id, reply_to=reply_to, markup=None
                )
            )
        return messages

    def _copy_content(self, source: Mapping[str, Any], req: Request) -> dict[str, Any]:
        content = {k: source[k] for k in MEDIA_KEYS if k in source}
        if "text" in source:
            content["text"] = source["text"]
            if source.get("entities"):
                content["entities"] = source["entities"]
        if not content:
            raise bad_request("message can't be copied")
        has_caption_slot = any(
            k in content for k in ("photo", "document", "video", "voice", "audio", "animation")
        )
        if has_caption_slot:
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
            raise bad_request(
                "message to copy not found"
                if "copy" in req.method.lower()
                else "message to forward not found"
            )
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
        ids = req.params.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise bad_request("message identifiers are not specified")
        sources = [self._copy_source(req, mid) for mid in ids]
        chat_id = self._target_chat(req)
        thread_id = self._target_thread(req, chat_id)
        results = []
        for source in sources:
            sub = Request(
                req.method,
                {k: v for k, v in req.params.items() if k != "caption"},
                req.time,
                req.index,
            )
            message = self._deliver(
                req,
                chat_id,
                self._copy_content(source, sub),
                thread_id=thread_id,
                reply_to=None,
                markup=None,
            )
            results.append({"message_id": message["message_id"]})
        return results

    def _forward_origin(self, source: Mapping[str, Any]) -> dict[str, Any]:
        sender = source.get("from")
        chat = source.get("chat", {})
        if chat.get("type") == "channel":
            return {
                "type": "channel",
                "chat": chat,
                "message_id": source["message_id"],
                "date": source["date"],
            }
        if isinstance(sender, dict):
            return {"type": "user", "sender_user": sender, "date": source["date"]}
        return {"type": "hidden_user", "sender_user_name": "Hidden", "date": source["date"]}

    async def _forward_message(self, req: Request) -> dict[str, Any]:
        source = self._copy_source(req, req.params.get("message_id"))
        chat_id = self._target_chat(req)
        thread_id = self._target_thread(req, chat_id)
        content = {
            k: v
            for k, v in source.items()
            if k in (*MEDIA_KEYS, "text", "entities", "caption", "caption_entities")
        }
        if not content:
            raise bad_request("message can't be forwarded")
        return self._deliver(
            req,
            chat_id,
            content,
            thread_id=thread_id,
            reply_to=None,
            markup=None,
            extra={"forward_origin": self._forward_origin(source)},
        )

    async def _forward_messages(self, req: Request) -> list[dict[str, Any]]:
        ids = req.params.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise bad_request("message identifiers are not specified")
        sources = [self._copy_source(req, mid) for mid in ids]
        chat_id = self._target_chat(req)
        thread_id = self._target_thread(req, chat_id)
        results = []
        for source in sources:
            content = {
                k: v
                for k, v in source.items()
                if k in (*MEDIA_KEYS, "text", "entities", "caption", "caption_entities")
            }
            message = self._deliver(
                req,
                chat_id,
                content,
                thread_id=thread_id,
                reply_to=None,
                markup=None,
                extra={"forward_origin": self._forward_origin(source)},
            )
            results.append({"message_id": message["message_id"]})
        return results

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
            if self.strict:
                raise bad_request("message to edit not found")
            message = {
                "message_id": int(message_id),
                "date": int(time.time()),
                "chat": self._chat_object(chat_id),
                "from": self.bot_user,
                "text": "…",
            }
            self._store(message)
        if self.strict and (message.get("from") or {}).get("id") != self.bot_id:
            raise bad_request("message can't be edited")
        return message

    def _apply_edit(self, message: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        current = {k: message.get(k) for k in changes}
        if self.strict and current == changes:
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

    async def _edit_message_caption(self, req: Request) -> Any:
        message = self._editable(req)
        caption, entities = self._formatted(
            req, "caption", "caption_entities", MAX_CAPTION_LENGTH, required=False
        )
        markup = self._check_markup(req.params.get("reply_markup"))
        if message is None:
            return True
        if "text" in message:
            raise bad_request("there is no caption in the message to edit")
        return self._apply_edit(
            message,
            {"caption": caption, "caption_entities": entities or None, "reply_markup": markup},
        )

    async def _edit_message_reply_markup(self, req: Request) -> Any:
        message = self._editable(req)
        markup = self._check_markup(req.params.get("reply_markup"))
        if message is None:
            return True
        return self._apply_edit(message, {"reply_markup": markup})

    def _mark_deleted(self, chat_id: int, message_id: int) -> bool:
        message = self._messages.pop((chat_id, message_id), None)
        for sent in self.sent:
            if sent.chat_id == chat_id and sent.message_id == message_id:
                sent.deleted = True
        return message is not None

    async def _delete_message(self, req: Request) -> bool:
        chat_id = self._resolve_chat_id(req.params.get("chat_id"))
        message_id = int(req.params.get("message_id") or 0)
        if not self._mark_deleted(chat_id, message_id) and self.strict:
            raise bad_request("message to delete not found")
        return True

    async def _delete_messages(self, req: Request) -> bool:
        chat_id = self._resolve_chat_id(req.params.get("chat_id"))
        ids = req.params.get("message_ids")
        if not isinstance(ids, list):
            raise bad_request("message identifiers are not specified")
        for message_id in ids:
            self._mark_deleted(chat_id, int(message_id))
        return True

    async def _answer_callback_query(self, req: Request) -> bool:
        query_id = str(req.params.get("callback_query_id") or "")
        text = req.params.get("text")
        if self.strict:
            if self._callback_queries.get(query_id, True):
                raise bad_request(
                    "query is too old and response timeout expired or query ID is invalid"
                )
            if text and len(str(text)) > MAX_CALLBACK_ANSWER_LENGTH:
                raise bad_request("MESSAGE_TOO_LONG")
        self._callback_queries[query_id] = True
        return True

    @staticmethod
    def _commands_key(params: Mapping[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True) + "|" + str(params.get("language_code") or "")

    async def _set_my_commands(self, req: Request) -> bool:
        commands = req.params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            name = str(command.get("command", ""))
            if self.strict and not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
        self._commands[self._commands_key(req.params)] = commands
        return True

    async def _delete_my_commands(self, req: Request) -> bool:
        self._commands.pop(self._commands_key(req.params), None)
        return True

    async def _get_my_commands(self, req: Request) -> list[dict[str, Any]]:
        return self._commands.get(self._commands_key(req.params), [])

    async def _set_chat_menu_button(self, req: Request) -> bool:
        chat_id = req.params.get("chat_id")
        button = req.params.get("menu_button") or {"type": "default"}
        self._menu_buttons[int(chat_id) if chat_id not in (None, "") else None] = button
        return True

    async def _get_chat_menu_button(self, req: Request) -> dict[str, Any]:
        chat_id = req.params.get("chat_id")
        key = int(chat_id) if chat_id not in (None, "") else None
        return self._menu_buttons.get(key) or self._menu_buttons.get(None) or {"type": "default"}

    async def _get_chat(self, req: Request) -> dict[str, Any]:
        chat_id = self._resolve_chat_id(req.params.get("chat_id"))
        chat = self._chat_object(chat_id)
        chat.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": True,
                    "limited_gifts": True,
                    "unique_gifts": True,
                    "premium_subscription": True,
                    "gifts_from_channels": True,
                },
            }
        )
        return chat

    def _member_object(self, chat_id: int, user_id: int) -> dict[str, Any]:
        status = self.member_status(chat_id, user_id)
        user = (
            self.bot_user
            if user_id == self.bot_id
            else (
                self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": "User"}
            )
        )
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                    "can_send_welcome_messages": False,
                    "can_pin_messages": True,
                    "can_manage_topics": True,
                }
            )
        elif status == "restricted":
            flags = (
                "can_send_messages",
                "can_send_audios",
                "can_send_documents",
                "can_send_photos",
                "can_send_videos",
                "can_send_video_notes",
                "can_send_voice_notes",
                "can_send_polls",
                "can_send_other_messages",
                "can_add_web_page_previews",
                "can_react_to_messages",
                "can_edit_tag",
                "can_change_info",
                "can_invite_users",
                "can_pin_messages",
                "can_manage_topics",
            )
            member.update(dict.fromkeys(flags, False))
            member.update({"is_member": True, "until_date": 0})
        elif status == "kicked":
            member["until_date"] = 0
        return member

    async def _get_chat_member(self, req: Request) -> dict[str, Any]:
        chat_id = self._resolve_chat_id(req.params.get("chat_id"))
        user_id = req.params.get("user_id")
        if not isinstance(user_id, int):
            raise bad_request("invalid user_id specified")
        if chat_id > 0 and user_id not in (chat_id, self.bot_id):
            raise bad_request("user not found")
        return self._member_object(chat_id, user_id)

    async def _get_chat_administrators(self, req: Request) -> list[dict[str, Any]]:
        chat_id = self._resolve_chat_id(req.params.get("chat_id"))
        if chat_id > 0:
            raise bad_request("there are no administrators in the private chat")
        ids = [
            uid
            for (cid, uid), status in self._members.items()
            if cid == chat_id and status in ("creator", "administrator")
        ]
        if self.member_status(chat_id, self.bot_id) == "administrator" and self.bot_id not in ids:
            ids.append(self.bot_id)
        return [self._member_object(chat_id, uid) for uid in ids]

    async def _get_chat_member_count(self, req: Request) -> int:
        chat_id = self._resolve_chat_id(req.params.get("chat_id"))
        if chat_id > 0:
            return 2
        return 1 + sum(
            1
            for (cid, _), status in self._members.items()
            if cid == chat_id and status in ("member", "administrator", "creator", "restricted")
        )

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
        if topic.deleted:
            raise bad_request("message thread not found")
        return topic

    async def _create_forum_topic(self, req: Request) -> dict[str, Any]:
        chat_id = self._forum(req)
        name = str(req.params.get("name") or "")
        if not name.strip():
            raise bad_request("TOPIC_NAME_EMPTY" if not name else "TOPIC_NAME_INVALID")
        if self.strict and len(name) > 128:
            raise bad_request("TOPIC_NAME_INVALID")
        color = int(req.params.get("icon_color") or TOPIC_ICON_COLORS[0])
        if self.strict and color not in TOPIC_ICON_COLORS:
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
            if self.strict and len(str(name)) > 128:
                raise bad_request("TOPIC_NAME_INVALID")
            changed = changed or str(name) != topic.name
            topic.name = str(name)
        if emoji is not None:
            changed = changed or (emoji or None) != topic.icon_custom_emoji_id
            topic.icon_custom_emoji_id = str(emoji) or None
        if self.strict and not changed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        return True

    async def _close_forum_topic(self, req: Request) -> bool:
        chat_id = self._forum(req)
        topic = self._topic(chat_id, req)
        if self.strict and topic.closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = True
        return True

    async def _reopen_forum_topic(self, req: Request) -> bool:
        chat_id = self._forum(req)
        topic = self._topic(chat_id, req)
        if self.strict and not topic.closed:
            raise bad_request("TOPIC_NOT_MODIFIED")
        topic.closed = False
        return True

    async def _delete_forum_topic(self, req: Request) -> bool:
        chat_id = self._forum(req)
        topic = self._topic(chat_id, req)
        topic.deleted = True
        for (cid, _), message in list(self._messages.items()):
            if cid == chat_id and message.get("message_thread_id") == topic.message_thread_id:
                self._mark_deleted(cid, int(message["message_id"]))
        return True

    async def _get_forum_topic_icon_stickers(self, req: Request) -> list[dict[str, Any]]:
        return []

    async def _get_file(self, req: Request) -> dict[str, Any]:
        file_id = str(req.params.get("file_id") or "")
        record = self._files.get(file_id)
        if record is None:
            raise bad_request("invalid file_id")
        if record.size > 20 * 1024 * 1024:
            raise bad_request("file is too big")
        return {
            "file_id": record.file_id,
            "file_unique_id": record.file_unique_id,
            "file_size": record.size,
            "file_path": record.path,
        }


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


def iter_texts(messages: Iterable[SentMessage]) -> list[str | None]:
    """Texts/captions of sent messages (handy in asserts)."""
    return [m.text for m in messages]
