"""What a delivery means for the CRM: first responses, topics, failed copies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.delivery import (
    CopyFailed,
    DeliveryReceipt,
    FailureReceipt,
    NotDeliveredToClient,
    Outcome,
    TicketPlace,
    record_delivered,
    record_delivered_many,
    record_failed,
    take_rows,
)
from crm.dto import IncomingMessage, TelegramUser
from crm.models import (
    Delivery,
    Message,
    OutboxMessage,
    OutboxStatus,
    Purpose,
    Ticket,
    TicketEvent,
)
from crm.outbox import Outbox
from crm.tickets import TicketService

CLIENT = TelegramUser(id=700001, full_name="Aigerim", language_code="en")
ENGINEER = TelegramUser(id=500001, full_name="Dana", language_code="en")
SUPPORT_CHAT_ID = -1001000000001
OPENED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@dataclass
class FixedClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def open_ticket(
    session: AsyncSession, *texts: str, file_ids: list[str] | None = None
) -> Ticket:
    tickets = TicketService(session)
    outcome = None
    for number, text in enumerate(texts, start=1):
        outcome = await tickets.record_client_message(
            IncomingMessage(
                chat_id=CLIENT.id,
                message_id=number,
                sender=CLIENT,
                content_type="photo" if file_ids else "text",
                telegram_date=OPENED,
                text=text,
                file_ids=file_ids or [],
            )
        )
    assert outcome is not None
    outcome.ticket.support_chat_id = SUPPORT_CHAT_ID
    return outcome.ticket


async def engineer_says(session: AsyncSession, ticket: Ticket, text: str, at: datetime) -> Message:
    message = await TicketService(session).record_engineer_message(
        ticket.id,
        IncomingMessage(
            chat_id=SUPPORT_CHAT_ID,
            message_id=int(at.timestamp()),
            sender=ENGINEER,
            content_type="text",
            telegram_date=at,
            text=text,
        ),
        internal=False,
    )
    assert message is not None
    return message


async def copy_out(session: AsyncSession, ticket: Ticket, message: Message) -> OutboxMessage:
    row = Outbox(session).copy_message(
        CLIENT.id,
        SUPPORT_CHAT_ID,
        message.telegram_message_id or 0,
        purpose=Purpose.COPY_OUT,
        message_row_id=message.id,
        ticket_id=ticket.id,
    )
    await session.flush()
    return row


async def first_response_events(session: AsyncSession) -> list[datetime]:
    return list(
        await session.scalars(
            select(TicketEvent.evidence_at).where(TicketEvent.kind == "first_response")
        )
    )


async def test_first_delivered_engineer_copy_is_the_first_response_at_the_engineers_message_time(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    answered_at = OPENED + timedelta(minutes=4)
    delivered_at = FixedClock(OPENED + timedelta(minutes=7))
    async with sessionmaker() as session:
        ticket = await open_ticket(session, "vm-17 is down")
        first = await copy_out(
            session, ticket, await engineer_says(session, ticket, "On it", answered_at)
        )
        later = await engineer_says(session, ticket, "Rebooted", answered_at + timedelta(minutes=1))
        second = await copy_out(session, ticket, later)

        await record_delivered(session, first, DeliveryReceipt(message_id=77), delivered_at)
        await record_delivered(session, second, DeliveryReceipt(message_id=78), delivered_at)
        await session.commit()

        assert ticket.first_response_at == answered_at  # not the delivery time
        assert await first_response_events(session) == [answered_at]
        assert (first.status, first.telegram_message_id, first.sent_at) == (
            OutboxStatus.SENT,
            77,
            delivered_at.now,
        )


async def test_a_bot_acknowledgement_is_never_a_first_response(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        ticket = await open_ticket(session, "hello")
        ack = await TicketService(session).record_bot_message(ticket.id, CLIENT.id, "Ticket #1")
        row = Outbox(session).send_message(
            CLIENT.id, "Ticket #1", purpose=Purpose.BOT, ticket_id=ticket.id, message_row_id=ack.id
        )
        await session.flush()

        await record_delivered(session, row, DeliveryReceipt(message_id=5))
        await session.commit()

        assert ack.delivery is Delivery.DELIVERED
        assert ticket.first_response_at is None
        assert await first_response_events(session) == []


async def test_merged_rows_are_all_marked_delivered(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        ticket = await open_ticket(session, "one", "two", "three")
        messages = (await session.scalars(select(Message).order_by(Message.id))).all()
        outbox = Outbox(session)
        copies = [
            outbox.copy_message(
                SUPPORT_CHAT_ID, CLIENT.id, m.telegram_message_id or 0, purpose=Purpose.COPY_IN,
                message_row_id=m.id, ticket_id=ticket.id, to_topic=True, plain_text=m.text,
            )
            for m in messages
        ]  # fmt: skip
        await session.flush()
        head, *merged = copies
        head.payload = {**head.payload, "merged_rows": [row.id for row in merged]}
        for row in merged:
            row.status, row.merged_into = OutboxStatus.MERGED, head.id

        await record_delivered(session, head, DeliveryReceipt(message_id=300))
        await session.commit()

        assert [(m.delivery, m.copy_chat_id, m.copy_message_id) for m in messages] == [
            (Delivery.DELIVERED, SUPPORT_CHAT_ID, 300)
        ] * 3


async def test_a_round_of_deliveries_is_recorded_as_each_alone_would_be(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The worker records a round of sends at once: the copies of the client's messages,
    the engineer's answer (the first response), the bot's acknowledgement and the ticket's
    header all end up as recorded one by one."""
    answered_at = OPENED + timedelta(minutes=3)
    clock = FixedClock(OPENED + timedelta(minutes=5))
    async with sessionmaker() as session:
        ticket = await open_ticket(session, "vm-17 is down", "since 9:00")
        said = (await session.scalars(select(Message).order_by(Message.id))).all()
        outbox = Outbox(session)
        copies = [
            outbox.copy_message(
                SUPPORT_CHAT_ID, CLIENT.id, m.telegram_message_id or 0, purpose=Purpose.COPY_IN,
                message_row_id=m.id, ticket_id=ticket.id, to_topic=True,
            )
            for m in said
        ]  # fmt: skip
        header = outbox.send_message(
            SUPPORT_CHAT_ID, "Ticket #1", purpose=Purpose.HEADER, ticket_id=ticket.id
        )
        ack = await TicketService(session).record_bot_message(ticket.id, CLIENT.id, "Ticket #1")
        ack_row = outbox.send_message(
            CLIENT.id, "Ticket #1", purpose=Purpose.BOT, ticket_id=ticket.id, message_row_id=ack.id
        )
        answer = await engineer_says(session, ticket, "On it", answered_at)
        answer_row = await copy_out(session, ticket, answer)
        rows = [*copies, header, ack_row, answer_row]
        directions = {m.id: m.direction for m in [*said, ack, answer]}
        ids = {row.id: 100 + n for n, row in enumerate(rows)}

        await record_delivered_many(
            session,
            [(row, DeliveryReceipt(message_id=ids[row.id])) for row in rows],
            directions,
            clock,
        )
        await session.commit()
        ticket_id, message_ids = ticket.id, [m.id for m in said]

    async with sessionmaker() as session:
        written = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
            )
        ).all()
        assert [(r.status, r.attempts, r.telegram_message_id, r.sent_at) for r in written] == [
            (OutboxStatus.SENT, 1, ids[r.id], clock.now) for r in written
        ]
        copied = (await session.scalars(select(Message).where(Message.id.in_(message_ids)))).all()
        assert sorted(
            (m.delivery, m.copy_chat_id, m.copy_message_id, m.delivered_at) for m in copied
        ) == [
            (Delivery.DELIVERED, SUPPORT_CHAT_ID, ids[copies[0].id], clock.now),
            (Delivery.DELIVERED, SUPPORT_CHAT_ID, ids[copies[1].id], clock.now),
        ]
        opened = await session.get(Ticket, ticket_id)
        assert opened is not None
        assert opened.header_message_id == ids[header.id]
        assert opened.first_response_at == answered_at
        assert await first_response_events(session) == [answered_at]
        replied = await session.get(Message, answer.id)
        assert replied is not None and replied.delivery is Delivery.DELIVERED


async def test_the_created_topic_and_the_header_are_remembered_on_the_ticket(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        ticket = await open_ticket(session, "hello")
        outbox = Outbox(session)
        topic = outbox.create_topic(SUPPORT_CHAT_ID, "#1", ticket.id)
        header = outbox.send_message(
            SUPPORT_CHAT_ID, "#1", purpose=Purpose.HEADER, ticket_id=ticket.id, to_topic=True
        )
        await session.flush()

        await record_delivered(session, topic, DeliveryReceipt(thread_id=4242))
        await record_delivered(session, header, DeliveryReceipt(message_id=9))
        await session.commit()

        assert (ticket.topic_thread_id, ticket.header_message_id) == (4242, 9)


async def test_a_client_message_that_cannot_be_copied_tells_the_engineers_what_it_was(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        ticket = await open_ticket(session, "the error screen", file_ids=["PHOTO-1"])
        [message] = (await session.scalars(select(Message))).all()
        row = Outbox(session).copy_message(
            SUPPORT_CHAT_ID, CLIENT.id, 1, purpose=Purpose.COPY_IN, message_row_id=message.id,
            ticket_id=ticket.id, to_topic=True,
        )  # fmt: skip
        await session.flush()

        notice = await record_failed(
            session,
            row,
            FailureReceipt(Outcome.PERMANENT, "Bad Request: message to copy not found"),
        )
        await session.commit()

        assert notice == CopyFailed(
            ticket_id=ticket.id,
            support_chat_id=SUPPORT_CHAT_ID,
            content_type="photo",
            text="the error screen",
            file_id="PHOTO-1",
            error="Bad Request: message to copy not found",
        )
        assert (row.status, message.delivery) == (OutboxStatus.FAILED, Delivery.FAILED)


async def test_an_answer_the_client_never_got_is_a_notice_and_no_first_response(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        ticket = await open_ticket(session, "hello")
        message = await engineer_says(session, ticket, "Hi", OPENED + timedelta(minutes=2))
        row = await copy_out(session, ticket, message)

        blocked = "Forbidden: bot was blocked by the user"
        notice = await record_failed(session, row, FailureReceipt(Outcome.PERMANENT, blocked))
        await session.commit()

        assert notice == NotDeliveredToClient(ticket.id, SUPPORT_CHAT_ID, blocked)
        assert (message.delivery, message.delivery_error) == (Delivery.FAILED, blocked)
        assert ticket.first_response_at is None


async def test_a_failure_worth_retrying_keeps_the_row_pending_until_its_wait_is_over(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FixedClock(OPENED)
    async with sessionmaker() as session:
        ticket = await open_ticket(session, "hello")
        message = await engineer_says(session, ticket, "Hi", OPENED)
        row = await copy_out(session, ticket, message)

        for kind, wait in ((Outcome.RETRY_AFTER, 3), (Outcome.TRANSIENT, 8)):
            failure = FailureReceipt(kind, "try later", timedelta(seconds=wait))
            assert await record_failed(session, row, failure, clock) is None
            assert (row.status, row.not_before) == (
                OutboxStatus.PENDING,
                OPENED + timedelta(seconds=wait),
            )
        assert row.attempts == 2
        assert message.delivery is Delivery.PENDING


async def test_a_group_without_topics_is_no_failure_to_report(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        ticket = await open_ticket(session, "hello")
        topic = Outbox(session).create_topic(SUPPORT_CHAT_ID, "#1", ticket.id)
        await session.flush()

        failure = FailureReceipt(Outcome.PERMANENT, "Bad Request: the chat is not a forum")
        assert await record_failed(session, topic, failure) is None
        assert (topic.status, ticket.topic_thread_id) == (OutboxStatus.FAILED, None)


async def test_a_round_taken_lean_still_records_the_first_response_topic_and_header(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The worker reads a round's tickets and messages as a few columns: what each send
    needs (the topic to post in) is there, and recording the round still stops the
    response timer at the engineer's message time, names the topic and the header."""
    answered_at = OPENED + timedelta(minutes=2)
    clock = FixedClock(OPENED + timedelta(minutes=6))
    async with sessionmaker() as session:
        ticket = await open_ticket(session, "vm-17 is down")
        ticket.topic_thread_id = 4242
        said = (await session.scalars(select(Message).order_by(Message.id))).all()
        outbox = Outbox(session)
        copy_in = outbox.copy_message(
            SUPPORT_CHAT_ID, CLIENT.id, said[0].telegram_message_id or 0, purpose=Purpose.COPY_IN,
            message_row_id=said[0].id, ticket_id=ticket.id, to_topic=True,
        )  # fmt: skip
        header = outbox.send_message(
            SUPPORT_CHAT_ID, "Ticket #1", purpose=Purpose.HEADER, ticket_id=ticket.id
        )
        answer = await engineer_says(session, ticket, "On it", answered_at)
        answer_row = await copy_out(session, ticket, answer)
        await session.commit()
        ticket_id, row_ids = ticket.id, [copy_in.id, header.id, answer_row.id]

    async with sessionmaker() as session:
        batch = await take_rows(session, row_ids)
        assert [row.id for row in batch.rows] == row_ids
        assert batch.places[ticket_id] == TicketPlace(topic_thread_id=4242, header_message_id=None)
        receipts = {row_ids[0]: 501, row_ids[1]: 502, row_ids[2]: 503}
        await record_delivered_many(
            session,
            [(row, DeliveryReceipt(message_id=receipts[row.id])) for row in batch.rows],
            {key: message.direction for key, message in batch.messages.items()},
            clock,
        )
        await session.commit()

    async with sessionmaker() as session:
        recorded = await session.get(Ticket, ticket_id)
        assert recorded is not None
        assert recorded.first_response_at == answered_at  # not the delivery time
        assert recorded.header_message_id == 502
        assert recorded.topic_thread_id == 4242
        assert await first_response_events(session) == [answered_at]
        copies = {
            m.id: (m.delivery, m.copy_message_id)
            for m in await session.scalars(select(Message).order_by(Message.id))
        }
        assert copies == {
            said[0].id: (Delivery.DELIVERED, 501),
            answer.id: (Delivery.DELIVERED, 503),
        }
