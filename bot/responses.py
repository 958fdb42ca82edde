"""Keeps aiogram's answer models alive.

aiogram parses every Bot API answer as ``Response[T]`` (T: what the method returns), a
pydantic generic class made on first use. pydantic caches such classes weakly, so once
nothing holds one, the next request builds it again, schema and validator for the whole
``Message`` type included: about a millisecond of CPU per send, and the largest single cost
of a burst in the profile. Whoever sends or polls holds the result of ``pin_answer_models``
for as long as it runs.
"""

from __future__ import annotations

from typing import Any

from aiogram import methods
from aiogram.methods.base import Response

# What the desk calls (bot/outbox.py, bot/polling.py, handlers answering buttons, start-up).
USED_METHODS = (
    methods.GetUpdates, methods.GetMe, methods.SetMyCommands, methods.SendMessage,
    methods.CopyMessage, methods.EditMessageText, methods.CreateForumTopic,
    methods.EditForumTopic, methods.CloseForumTopic, methods.ReopenForumTopic,
    methods.SetMessageReaction, methods.SendDocument, methods.SendPhoto,
    methods.AnswerCallbackQuery, methods.DeleteWebhook, methods.SetWebhook,
)  # fmt: skip


def pin_answer_models() -> tuple[Any, ...]:
    """The ``Response[T]`` classes of the methods the desk calls; hold the tuple."""
    returning = {method.__returning__ for method in USED_METHODS}
    return tuple(Response[answer] for answer in returning)  # type: ignore[valid-type]
