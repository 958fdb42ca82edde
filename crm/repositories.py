"""Queries. Repositories return rows and never commit: services own the transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import BindParameter, Integer, Select, bindparam, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import (
    Channel,
    Contact,
    Customer,
    Emergency,
    Invitation,
    Message,
    ProcessedUpdate,
    Service,
    Ticket,
    TicketEvent,
    TicketStatus,
)


class CustomerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, customer_id: int) -> Customer | None:
        return await self.session.get(Customer, customer_id)

    async def list(self) -> Sequence[Customer]:
        return (await self.session.scalars(select(Customer).order_by(Customer.id))).all()

    async def services(self, customer_id: int | None = None) -> Sequence[Service]:
        query = select(Service).order_by(Service.id)
        if customer_id is not None:
            query = query.where(Service.customer_id == customer_id)
        return (await self.session.scalars(query)).all()

    async def services_of(self, customer_ids: Collection[int]) -> Mapping[int, Sequence[Service]]:
        """The services of each of these customers, oldest first, in one query (a customer
        without any is absent)."""
        if not customer_ids:
            return {}
        found = await self.session.scalars(
            select(Service).where(Service.customer_id.in_(customer_ids)).order_by(Service.id)
        )
        services: dict[int, list[Service]] = {}
        for service in found.all():
            services.setdefault(service.customer_id, []).append(service)
        return services

    async def service(self, service_id: int) -> Service | None:
        return await self.session.get(Service, service_id)

    async def invitation(self, token: str) -> Invitation | None:
        return await self.session.scalar(select(Invitation).where(Invitation.token == token))


# Statements run for every client message are built once, their values bound at each call:
# building a select and its cache key costs more than running it on an indexed row.
_CONTACT_BY_TELEGRAM_ID = select(Contact).where(
    Contact.telegram_user_id == bindparam("telegram_user_id")
)


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_telegram_id(self, telegram_user_id: int) -> Contact | None:
        return await self.session.scalar(
            _CONTACT_BY_TELEGRAM_ID, {"telegram_user_id": telegram_user_id}
        )


_Select = TypeVar("_Select", bound="Select[Any]")


# A ticket a contact's new Telegram messages may go to (the newest of them does).
_TAKES_TELEGRAM_MESSAGES = (
    Ticket.channel == Channel.TELEGRAM,
    Ticket.status != TicketStatus.CLOSED,
)


def _newest_open_telegram_ticket(query: _Select, contact_id: int | BindParameter[int]) -> _Select:
    """Where a contact's new Telegram messages go: their newest ticket that is not closed."""
    return (
        query.where(Ticket.contact_id == contact_id, *_TAKES_TELEGRAM_MESSAGES)
        .order_by(Ticket.id.desc())
        .limit(1)
    )


_RECORDED_MESSAGE = select(Message.id).where(
    Message.chat_id == bindparam("chat_id"),
    Message.telegram_message_id == bindparam("message_id"),
)
# One row whether or not the contact has a current ticket (None then): a storm's reports
# are mostly their clients' first messages, which would otherwise ask twice.
_CURRENT_TICKET_ID = (
    _newest_open_telegram_ticket(select(Ticket.id), bindparam("contact_id", type_=Integer))
    .scalar_subquery()
    .correlate(None)
)
_ONE_ROW = select(literal(1).label("one")).subquery()
# A ticket opened while an emergency runs gets its target (A 5.2). Asked with the current
# ticket, since a storm's messages mostly open tickets; alone where no current ticket is read.
EMERGENCY_RUNNING = select(Emergency.id).where(Emergency.ended_at.is_(None)).limit(1)
_CURRENT_AND_RECORDED = (
    select(Ticket, _RECORDED_MESSAGE.scalar_subquery(), EMERGENCY_RUNNING.scalar_subquery())
    .select_from(_ONE_ROW)
    .outerjoin(Ticket, Ticket.id == _CURRENT_TICKET_ID)
)


@dataclass(frozen=True, slots=True)
class CurrentAndRecorded:
    """The contact's current ticket (None when there is none), the row id of this
    Telegram message if it is recorded already, and whether an emergency runs."""

    ticket: Ticket | None
    recorded: int | None
    emergency_running: bool


class TicketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ticket_id: int) -> Ticket | None:
        return await self.session.get(Ticket, ticket_id)

    async def current_for_contact(self, contact_id: int) -> Ticket | None:
        """The newest ticket of a contact that is not closed: where new messages go."""
        return await self.session.scalar(_newest_open_telegram_ticket(select(Ticket), contact_id))

    async def current_and_recorded(
        self, contact_id: int, chat_id: int, message_id: int
    ) -> CurrentAndRecorded:
        """In one query: the contact's current ticket (as `current_for_contact`), this
        Telegram message's row if it is recorded already, and whether an emergency runs."""
        row = (
            await self.session.execute(
                _CURRENT_AND_RECORDED,
                {"contact_id": contact_id, "chat_id": chat_id, "message_id": message_id},
            )
        ).one()
        return CurrentAndRecorded(row[0], row[1], row[2] is not None)

    async def current_of_contacts(self, contact_ids: Collection[int]) -> dict[int, Ticket]:
        """`current_for_contact` of many contacts in one query: contact id -> ticket."""
        if not contact_ids:
            return {}
        newest = (
            select(func.max(Ticket.id))
            .where(Ticket.contact_id.in_(contact_ids), *_TAKES_TELEGRAM_MESSAGES)
            .group_by(Ticket.contact_id)
        )
        found = await self.session.scalars(select(Ticket).where(Ticket.id.in_(newest)))
        return {ticket.contact_id: ticket for ticket in found.unique() if ticket.contact_id}

    async def with_an_open_topic(self, contact_ids: Collection[int]) -> set[int]:
        """Which of these contacts have an open Telegram ticket with its topic: no other
        contact's current ticket can take a plain text as it is (`current_of_contacts`
        then decides for those that do). Ids only: no ticket is loaded."""
        if not contact_ids:
            return set()
        found = await self.session.scalars(
            select(Ticket.contact_id)
            .where(
                Ticket.contact_id.in_(contact_ids),
                Ticket.channel == Channel.TELEGRAM,
                Ticket.status == TicketStatus.OPEN,
                Ticket.support_chat_id.is_not(None),
            )
            .distinct()
        )
        return {contact_id for contact_id in found.all() if contact_id is not None}

    async def recorded_among(
        self, chat_ids: Collection[int], message_ids: Collection[int]
    ) -> set[tuple[int, int]]:
        """Which (chat id, Telegram message id) pairs of these chats and ids are recorded
        (a superset of the pairs asked about: the caller picks its own)."""
        if not chat_ids:
            return set()
        found = await self.session.execute(
            select(Message.chat_id, Message.telegram_message_id).where(
                Message.chat_id.in_(chat_ids), Message.telegram_message_id.in_(message_ids)
            )
        )
        return {(chat_id, message_id) for chat_id, message_id in found if chat_id and message_id}

    async def recorded_message(self, chat_id: int, message_id: int) -> int | None:
        """The row id of a Telegram message already recorded, or None."""
        return await self.session.scalar(
            _RECORDED_MESSAGE, {"chat_id": chat_id, "message_id": message_id}
        )

    async def of_contact(self, contact_id: int, limit: int = 20) -> Sequence[Ticket]:
        return (
            await self.session.scalars(
                select(Ticket)
                .where(Ticket.contact_id == contact_id)
                .order_by(Ticket.id.desc())
                .limit(limit)
            )
        ).all()

    async def by_topic(self, chat_id: int, thread_id: int) -> Ticket | None:
        return await self.session.scalar(
            select(Ticket).where(
                Ticket.support_chat_id == chat_id, Ticket.topic_thread_id == thread_id
            )
        )

    async def by_group_message(self, chat_id: int, message_id: int) -> Ticket | None:
        """The ticket a message in the support group belongs to (header, copy or reply)."""
        ticket = await self.session.scalar(
            select(Ticket).where(
                Ticket.support_chat_id == chat_id, Ticket.header_message_id == message_id
            )
        )
        if ticket is not None:
            return ticket
        ticket_id = await self.session.scalar(
            select(Message.ticket_id)
            .where(
                ((Message.copy_chat_id == chat_id) & (Message.copy_message_id == message_id))
                | ((Message.chat_id == chat_id) & (Message.telegram_message_id == message_id))
            )
            .limit(1)
        )
        return None if ticket_id is None else await self.get(ticket_id)

    async def message(self, chat_id: int, message_id: int) -> Message | None:
        return await self.session.scalar(
            select(Message).where(
                Message.chat_id == chat_id, Message.telegram_message_id == message_id
            )
        )

    async def message_by_id(self, row_id: int) -> Message | None:
        return await self.session.get(Message, row_id)

    async def messages(self, ticket_id: int) -> Sequence[Message]:
        return (
            await self.session.scalars(
                select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id)
            )
        ).all()

    async def events(self, ticket_id: int) -> Sequence[TicketEvent]:
        return (
            await self.session.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.id)
            )
        ).all()

    async def update_seen(self, update_id: int) -> bool:
        return await self.session.get(ProcessedUpdate, update_id) is not None
