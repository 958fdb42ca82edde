"""Turns aiogram objects into the CRM's plain evidence records."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram.types import Message, User

from crm.dto import IncomingMessage, TelegramUser

FILE_ATTRIBUTES = ("document", "video", "voice", "audio", "animation", "sticker", "video_note")


def telegram_user(user: User) -> TelegramUser:
    return TelegramUser(
        id=user.id,
        full_name=user.full_name,
        username=user.username,
        language_code=user.language_code,
    )


def describe_content(message: Message) -> str | None:
    """Text kept for the record: the text or caption, or a summary of what has no text."""
    if message.text or message.caption:
        return message.text or message.caption
    if message.location:
        return f"location {message.location.latitude:.6f},{message.location.longitude:.6f}"
    if message.contact:
        return f"contact {message.contact.first_name} {message.contact.phone_number}"
    if message.sticker and message.sticker.emoji:
        return message.sticker.emoji
    return None


def file_ids(message: Message) -> list[str]:
    if message.photo:
        return [message.photo[-1].file_id]
    for attribute in FILE_ATTRIBUTES:
        media = getattr(message, attribute)
        if media is not None:
            return [media.file_id]
    return []


def edit_time(message: Message) -> datetime:
    """Telegram's time of an edit (`edit_date`), the message's own time without one."""
    if message.edit_date is not None:
        return datetime.fromtimestamp(message.edit_date, UTC)  # aiogram keeps it as a number
    return message.date


def incoming_message(message: Message, update_id: int | None) -> IncomingMessage:
    assert message.from_user is not None
    return IncomingMessage(
        chat_id=message.chat.id,
        message_id=message.message_id,
        sender=telegram_user(message.from_user),
        content_type=getattr(message.content_type, "value", str(message.content_type)),
        telegram_date=message.date,
        text=describe_content(message),
        file_ids=file_ids(message),
        update_id=update_id,
        media_group_id=message.media_group_id,
    )
