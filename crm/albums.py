"""Albums: the messages of one media group travel as one `copyMessages`, in order.

Telegram delivers an album as one update per message, in one getUpdates batch or in
consecutive ones. Each message is recorded at once, like any other; the copy is one outbox
row per group that each part joins while it waits out a short settle time (its `not_before`).
Nothing lives in memory, so a restart loses nothing: the row is in the database with the
parts recorded so far, and a part arriving after the row has gone starts a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select

from crm.models import Message, OutboxMessage, OutboxStatus, Purpose
from crm.outbox import Outbox, QueuedRow
from crm.tickets import TicketService

# How long an album's copy waits for its next part; Telegram sends them within a second.
ALBUM_SETTLE = timedelta(seconds=2)
# Telegram's limit of one album.
ALBUM_SIZE = 10
# Telegram's caption limit, in UTF-16 code units (a Premium client may write longer ones).
CAPTION_LIMIT = 1024
COPY_MESSAGES = "copyMessages"


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def caption_too_long(message: Message) -> bool:
    """A media message whose caption Telegram refuses to copy."""
    return (
        message.content_type != "text"
        and message.text is not None
        and utf16_length(message.text) > CAPTION_LIMIT
    )


async def add_to_album(
    outbox: Outbox,
    *,
    chat_id: int,
    from_chat_id: int,
    message: Message,
    media_group_id: str,
    purpose: Purpose,
    ticket_id: int,
    to_topic: bool,
    incident_id: int | None = None,
    settle: timedelta = ALBUM_SETTLE,
) -> QueuedRow:
    """Joins `message` to its group's copy still waiting to go, or starts one (in the
    outage's room `incident_id` when the ticket is a gathered report)."""
    assert message.telegram_message_id is not None
    now = outbox.clock()
    waiting = await outbox.session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.method == COPY_MESSAGES,
            OutboxMessage.status == OutboxStatus.PENDING,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.ticket_id == ticket_id,
            OutboxMessage.not_before > now,
        )
        # On PostgreSQL a row a worker is sending right now is skipped: a new one starts.
        .with_for_update(skip_locked=True)
    )
    for row in waiting:
        payload = row.payload
        if (
            payload.get("media_group_id") == media_group_id
            and payload.get("from_chat_id") == from_chat_id
            and len(payload["message_ids"]) < ALBUM_SIZE
        ):
            parts = sorted(
                [*zip(payload["message_ids"], payload["message_rows"], strict=True),
                 (message.telegram_message_id, message.id)]
            )  # fmt: skip
            # A new dict: the JSON column notices a replaced value, not an edited one.
            row.payload = {
                **payload,
                "message_ids": [part[0] for part in parts],
                "message_rows": [part[1] for part in parts],
                "remove_caption": payload.get("remove_caption") or caption_too_long(message),
            }
            row.not_before = now + settle
            return row
    queued = outbox.copy_messages(
        chat_id,
        from_chat_id,
        [message.telegram_message_id],
        purpose=purpose,
        message_rows=[message.id],
        ticket_id=ticket_id,
        to_topic=to_topic,
        media_group_id=media_group_id,
        remove_caption=caption_too_long(message),
        incident_id=incident_id,
    )
    queued.not_before = now + settle
    return queued


async def record_album_delivered(
    tickets: TicketService, row: OutboxMessage, copies: Sequence[int]
) -> None:
    """Each part is paired with its copy, in order; a part Telegram skipped is failed."""
    rows: list[int] = list(row.payload.get("message_rows", []))
    for message_row_id, copy_id in zip(rows, copies, strict=False):
        await tickets.mark_delivered(message_row_id, row.chat_id, copy_id)
    for message_row_id in rows[len(copies) :]:
        await tickets.mark_failed(message_row_id, "skipped by Telegram in the album's copy")


async def record_album_failed(tickets: TicketService, row: OutboxMessage, error: str) -> None:
    for message_row_id in row.payload.get("message_rows", [])[1:]:
        await tickets.mark_failed(message_row_id, error)
