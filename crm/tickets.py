"""Tickets and their messages: opened, answered, resolved, closed, rated.

Services flush but never commit: the caller owns the unit of work (one transaction per
Telegram update, or per CLI command), so an event and the outbox messages it causes are
committed together or not at all.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard, cast

from sqlalchemy import Table, bindparam, func, insert, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from crm import evidence
from crm.clock import Clock, utc_now
from crm.contacts import ContactService
from crm.dto import IncomingMessage, TelegramUser
from crm.errors import CrmError
from crm.models import (
    Category,
    Channel,
    Contact,
    Delivery,
    Direction,
    Message,
    Service,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from crm.repositories import EMERGENCY_RUNNING, CustomerRepository, TicketRepository
from sla.config import SlaConfig
from sla.model import TicketRecord
from sla.targets import first_response_target

# What handlers read of a ticket besides its columns (loaded with it, see crm/models.py).
_HANDLER_RELATIONS = frozenset({"contact", "customer", "service"})

# The customer's first service, loaded whole (the sole one is the ticket's, and handlers
# read it), with how many the customer has and the least and greatest of their kinds: one
# row, one statement, however many services (window functions count before the LIMIT).
_FIRST_SERVICE_AND_KINDS = (
    select(
        Service,
        func.count().over().label("services"),
        func.min(Service.service_type).over().label("least_kind"),
        func.max(Service.service_type).over().label("greatest_kind"),
    )
    .where(Service.customer_id == bindparam("customer_id"))
    .order_by(Service.id)
    .limit(1)
)
_LOCK_CONTACT = select(Contact.id).where(Contact.id == bindparam("contact_id")).with_for_update()
_MESSAGES = cast(Table, Message.__table__)
# Ids in the order of the rows given, whatever the driver's batching (PostgreSQL too).
_INSERT_MESSAGES = insert(_MESSAGES).returning(_MESSAGES.c.id, sort_by_parameter_order=True)


def _joins_as_is(ticket: Ticket | None) -> TypeGuard[Ticket]:
    """A message to this ticket only joins it: it is open and has its topic (its first copy
    opens the topic; a ticket waiting in an outage's room has none)."""
    return (
        ticket is not None
        and ticket.status is TicketStatus.OPEN
        and ticket.support_chat_id is not None
    )


def _contact_changes(contact: Contact, user: TelegramUser) -> bool:
    """Whether `ContactService.ensure` would update the contact from this message."""
    return (
        contact.full_name != user.full_name
        or contact.username != user.username
        or contact.telegram_language != user.language_code
    )


# Given a ticket about to be opened (its customer and sole service known, not written yet):
# it may fill in what its INSERT should carry (the room it waits in), instead of an UPDATE.
BeforeOpening = Callable[[Ticket], Awaitable[None]]

# A resolved ticket the client writes to within this window is reopened, not replaced.
DEFAULT_REOPEN_WINDOW = timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class ClientMessageOutcome:
    ticket: Ticket
    message: Message
    opened: bool
    reopened: bool
    duplicate: bool


class TicketService:
    def __init__(
        self,
        session: AsyncSession,
        config: SlaConfig | None = None,
        clock: Clock = utc_now,
        reopen_window: timedelta = DEFAULT_REOPEN_WINDOW,
    ) -> None:
        self.session = session
        self.clock = clock
        self.config = config or SlaConfig()
        self.reopen_window = reopen_window
        self.tickets = TicketRepository(session)
        self.contacts = ContactService(session, clock)
        self.customers = CustomerRepository(session)

    # -- evidence helpers -------------------------------------------------------------

    def _event(
        self,
        ticket: Ticket,
        kind: str,
        *,
        evidence_at: datetime,
        actor: TelegramUser | None,
        role: str,
        **details: Any,
    ) -> None:
        self.session.add(
            TicketEvent(
                ticket_id=ticket.id,
                kind=kind,
                actor_telegram_id=actor.id if actor else None,
                actor_name=actor.full_name if actor else None,
                actor_role=role,
                evidence_at=evidence_at,
                recorded_at=self.clock(),
                details=details,
            )
        )

    async def _open_ticket(
        self,
        *,
        channel: Channel,
        opened_at: datetime,
        contact: Contact | None,
        customer_id: int | None,
        client_chat_id: int | None,
        actor: TelegramUser | None,
        role: str,
        category: Category | None = None,
        emergency_running: bool | None = None,
        before_opening: BeforeOpening | None = None,
    ) -> Ticket:
        """`category`: the client said what it is about in the message that opens it (a
        `/down`): written with the ticket, and its choice recorded as if made after.
        `emergency_running`: known already (asked with the current ticket), or asked here.
        `before_opening`: see `BeforeOpening`."""
        if emergency_running is None:
            # Without the autoflush: a first message's contact waits for the ticket's flush.
            with self.session.no_autoflush:
                emergency_running = await self.session.scalar(EMERGENCY_RUNNING) is not None
        target = first_response_target(
            TicketRecord(0, channel, None, "", opened_at, emergency=emergency_running),
            self.config,
        )
        ticket = Ticket(
            channel=channel,
            category=category,
            status=TicketStatus.OPEN,
            customer_id=customer_id,
            # The relationship, not the id: a contact made by this message is written with
            # the ticket (`record_client_message`).
            contact=contact,
            client_chat_id=client_chat_id,
            opened_at=opened_at,
            response_due_at=opened_at + target if target else None,
            emergency=emergency_running,
            created_at=self.clock(),
        )
        # Bound before the ticket joins the session: its INSERT then carries the service (the
        # query would otherwise flush it first, and an UPDATE follow).
        sole_service = await self._bind_sole_service(ticket)
        if before_opening is not None:
            await before_opening(ticket)
        self.session.add(ticket)
        await self.session.flush()
        if sole_service is not None:
            # Read whole with the kinds: held here, it is not read again for the handlers,
            # and it is all the customer's services (the header card lists them).
            set_committed_value(ticket, "service", sole_service)
            if "services" in inspect(sole_service.customer).unloaded:
                set_committed_value(sole_service.customer, "services", [sole_service])
        self._event(
            ticket, "opened", evidence_at=opened_at, actor=actor, role=role, channel=channel.value
        )
        if category is not None:
            self._category_set(ticket, category, actor, role, opened_at)
        return ticket

    async def _bind_sole_service(self, ticket: Ticket) -> Service | None:
        """A customer with one service: the ticket is about it (returned). With several of
        one kind, the ticket is at least of that kind (object storage's processing target,
        B 5.3)."""
        if ticket.customer_id is None or ticket.service_id is not None:
            return None
        first = (
            await self.session.execute(
                _FIRST_SERVICE_AND_KINDS, {"customer_id": ticket.customer_id}
            )
        ).first()
        if first is None:
            return None
        if first.least_kind == first.greatest_kind:
            ticket.service_type = first.least_kind
        if first.services != 1:
            return None
        ticket.service_id = first.Service.id
        return cast(Service, first.Service)

    # -- client side ------------------------------------------------------------------

    async def record_client_message(
        self,
        incoming: IncomingMessage,
        *,
        force_new: bool = False,
        category: Category | None = None,
        before_opening: BeforeOpening | None = None,
    ) -> ClientMessageOutcome:
        """`category`, `before_opening`: for a ticket this message opens (`_open_ticket`)."""
        # A client's first message: their contact is written with the ticket it opens, in
        # one flush. It has no ticket and no message recorded yet, nothing to ask for; and
        # another instance writing the same contact meanwhile fails ours on its unique id.
        contact = await self.contacts.ensure(incoming.sender, flush=False)
        first_sight = inspect(contact).pending
        # Serialises this contact's messages across instances (a row lock on PostgreSQL), so
        # two messages arriving at once cannot each open a ticket. SQLite has no row locks:
        # its one writer (BEGIN IMMEDIATE) serialises them already.
        if not first_sight and self.session.get_bind().dialect.name != "sqlite":
            await self.session.execute(_LOCK_CONTACT, {"contact_id": contact.id})
        ticket: Ticket | None = None
        recorded: int | None = None
        emergency_running: bool | None = None
        if first_sight:
            pass  # a new contact: no ticket, no message of theirs recorded
        elif force_new:
            recorded = await self.tickets.recorded_message(incoming.chat_id, incoming.message_id)
        else:
            current = await self.tickets.current_and_recorded(
                contact.id, incoming.chat_id, incoming.message_id
            )
            ticket, recorded = current.ticket, current.recorded
            emergency_running = current.emergency_running
        if recorded is not None:
            # A redelivery: its copy was queued with it.
            existing = await self.tickets.message_by_id(recorded)
            assert existing is not None
            ticket = await self.tickets.get(existing.ticket_id)
            assert ticket is not None
            return ClientMessageOutcome(ticket, existing, False, False, duplicate=True)
        opened = reopened = False
        when = incoming.telegram_date
        if ticket is not None and ticket.status is TicketStatus.RESOLVED:
            resolved_at = ticket.resolved_at or ticket.opened_at
            if when - resolved_at <= self.reopen_window:
                self._reopen(ticket, when, incoming.sender, "client")
                reopened = True
            else:
                self._close(ticket, when, None, "system", reason="reopen_window_passed")
                ticket = None
        if ticket is None:
            ticket = await self._open_ticket(
                channel=Channel.TELEGRAM,
                opened_at=when,
                contact=contact,
                customer_id=contact.customer_id,
                client_chat_id=incoming.chat_id,
                actor=incoming.sender,
                role="client",
                category=category,
                emergency_running=emergency_running,
                before_opening=before_opening,
            )
            opened = True
        message = self._message_row(ticket, incoming, Direction.FROM_CLIENT, Delivery.PENDING)
        self.session.add(message)
        # A concurrent duplicate fails here on the unique Telegram ids; the caller rolls back.
        await self.session.flush()
        if opened:
            await self._attach_handler_relations(ticket, contact)
        if not _HANDLER_RELATIONS.isdisjoint(inspect(ticket).unloaded):
            # A current ticket came with them.
            ticket = await self._fresh(ticket.id)
        return ClientMessageOutcome(ticket, message, opened, reopened, duplicate=False)

    async def _attach_handler_relations(self, ticket: Ticket, contact: Contact) -> None:
        """A new ticket's contact, customer and service are in the session already (its
        contact came with its customer; its service is read once per session): given to it
        as loaded, instead of reading the ticket again. (A contact linked by `/link` in this
        session may hold a stale customer: that ticket is read again.)"""
        if "customer" in inspect(contact).unloaded:
            if contact.customer_id is not None:
                return
            # A contact made by this message: no customer yet, none to read.
            set_committed_value(contact, "customer", None)
        customer = contact.customer
        if (customer.id if customer is not None else None) != ticket.customer_id:
            return
        service = None
        if ticket.service_id is not None:
            service = await self.session.get(Service, ticket.service_id)
        set_committed_value(ticket, "contact", contact)
        set_committed_value(ticket, "customer", customer)
        set_committed_value(ticket, "service", service)

    async def record_follow_ups(
        self, incoming: Sequence[IncomingMessage]
    ) -> list[ClientMessageOutcome]:
        """`record_client_message` for the leading messages of `incoming` that simply join
        their sender's open ticket, all written with one executemany; those after the first
        that does more (opens or reopens a ticket, updates the contact, is recorded already,
        or its ticket has no topic yet) are left to `record_client_message`, in order.

        What it writes is what `record_client_message` would, message by message: the same
        rows, chained at the commit like the ORM's (crm/evidence.py `inserted`)."""
        # Up to the first sender without a contact, or whose contact this message changes:
        # a burst's first messages (new clients) cost no query here.
        contacts: list[Contact] = []
        for message in incoming:
            contact = await self.contacts.find(message.sender.id)
            if contact is None or _contact_changes(contact, message.sender):
                break
            contacts.append(contact)
        if not contacts:
            return []
        known = {contact.id for contact in contacts}
        # The same per-contact row lock as `record_client_message`, for the whole run at
        # once, in id order so two runs cannot wait on each other.
        if self.session.get_bind().dialect.name != "sqlite":
            await self.session.execute(
                select(Contact.id)
                .where(Contact.id.in_(known))
                .order_by(Contact.id)
                .with_for_update()
            )
        # Ids first, tickets only for the run they allow: in a storm of first messages
        # (each asked here before it is dispatched) no ticket is open yet, and loading the
        # whole run's tickets each time cost more than the path saves.
        joinable = await self.tickets.with_an_open_topic(known)
        contacts = list(itertools.takewhile(lambda contact: contact.id in joinable, contacts))
        if not contacts:
            return []
        current = await self.tickets.current_of_contacts({contact.id for contact in contacts})
        candidates = incoming[: len(contacts)]
        recorded = await self.tickets.recorded_among(
            {message.chat_id for message in candidates},
            {message.message_id for message in candidates},
        )
        taken: list[tuple[Ticket, IncomingMessage]] = []
        for message, contact in zip(incoming, contacts, strict=False):
            ticket = current.get(contact.id)
            key = (message.chat_id, message.message_id)
            if not _joins_as_is(ticket) or key in recorded or message.media_group_id is not None:
                break
            recorded.add(key)
            taken.append((ticket, message))
        if not taken:
            return []
        values = [
            self._message_values(ticket, message, Direction.FROM_CLIENT, Delivery.PENDING)
            for ticket, message in taken
        ]
        ids = (await self.session.execute(_INSERT_MESSAGES, values)).scalars().all()
        for row, row_id in zip(values, ids, strict=True):
            row["id"] = row_id
        evidence.inserted(self.session.sync_session, "messages", values)
        # Plain objects for the notices, never added to the session: the rows are written.
        return [
            ClientMessageOutcome(ticket, Message(**row), False, False, duplicate=False)
            for (ticket, _message), row in zip(taken, values, strict=True)
        ]

    def _message_values(
        self, ticket: Ticket, incoming: IncomingMessage, direction: Direction, delivery: Delivery
    ) -> dict[str, Any]:
        return {
            "ticket_id": ticket.id,
            "direction": direction,
            "sender_telegram_id": incoming.sender.id,
            "chat_id": incoming.chat_id,
            "telegram_message_id": incoming.message_id,
            "update_id": incoming.update_id,
            "content_type": incoming.content_type,
            "text": incoming.text,
            "file_ids": list(incoming.file_ids),
            "telegram_date": incoming.telegram_date,
            "received_at": self.clock(),
            "delivery": delivery,
        }

    def _message_row(
        self, ticket: Ticket, incoming: IncomingMessage, direction: Direction, delivery: Delivery
    ) -> Message:
        return Message(**self._message_values(ticket, incoming, direction, delivery))

    async def set_category(
        self,
        ticket_id: int,
        category: Category,
        actor: TelegramUser,
        role: str,
        evidence_at: datetime | None = None,
    ) -> Ticket:
        ticket = await self._ticket(ticket_id)
        if ticket.category is not category:
            ticket.category = category
            self._category_set(ticket, category, actor, role, evidence_at or self.clock())
            await self.session.flush()
        return ticket

    def _category_set(
        self,
        ticket: Ticket,
        category: Category,
        actor: TelegramUser | None,
        role: str,
        evidence_at: datetime,
    ) -> None:
        self._event(
            ticket, "category_set", evidence_at=evidence_at, actor=actor, role=role,
            category=category.value,
        )  # fmt: skip

    async def set_service(
        self, ticket_id: int, service_id: int, actor: TelegramUser, role: str = "client"
    ) -> Ticket:
        ticket = await self._ticket(ticket_id)
        service = await self.customers.service(service_id)
        if service is None or service.customer_id != ticket.customer_id:
            raise CrmError("unknown_service", service_id=service_id)
        ticket.service_id = service_id
        ticket.service_type = service.service_type
        self._event(
            ticket,
            "service_set",
            evidence_at=self.clock(),
            actor=actor,
            role=role,
            service_id=service_id,
        )
        await self.session.flush()
        return await self._fresh(ticket.id)

    async def customer_services(self, ticket: Ticket) -> list[Service]:
        """The services of the ticket's customer, oldest first (none without a customer)."""
        await self.load_customer_services([ticket])
        return [] if ticket.customer is None else list(ticket.customer.services)

    async def load_customer_services(self, tickets: Iterable[Ticket]) -> None:
        """Loads the services of these tickets' customers, in one query, where they are not
        loaded yet: they are read only where a customer's services are listed or chosen
        from (crm/models.py `Customer.services`)."""
        customers = {
            ticket.customer.id: ticket.customer
            for ticket in tickets
            if ticket.customer is not None and "services" in inspect(ticket.customer).unloaded
        }
        found = await self.customers.services_of(customers.keys())
        for customer_id, customer in customers.items():
            set_committed_value(customer, "services", list(found.get(customer_id, ())))

    async def down_reported_at(self, ticket_id: int) -> datetime | None:
        """When the client said the service is down: the evidence of the category choice."""
        for event in reversed(await self.tickets.events(ticket_id)):
            if event.kind == "category_set" and event.details.get("category") == Category.DOWN:
                return event.evidence_at
        return None

    async def client_tickets(self, user: TelegramUser) -> Sequence[Ticket]:
        contact = await self.contacts.find(user.id)
        return [] if contact is None else await self.tickets.of_contact(contact.id)

    async def current_ticket(self, user: TelegramUser) -> Ticket | None:
        contact = await self.contacts.find(user.id)
        return None if contact is None else await self.tickets.current_for_contact(contact.id)

    async def close_by_client(self, user: TelegramUser, when: datetime) -> Ticket | None:
        ticket = await self.current_ticket(user)
        if ticket is None:
            return None
        self._close(ticket, when, user, "client")
        await self.session.flush()
        return ticket

    async def rate(self, ticket_id: int, user: TelegramUser, rating: int) -> Ticket:
        ticket = await self._ticket(ticket_id)
        contact = await self.contacts.find(user.id)
        if contact is None or ticket.contact_id != contact.id:
            raise CrmError("not_your_ticket", ticket_id=ticket_id)
        if not 1 <= rating <= 5:
            raise CrmError("bad_rating")
        ticket.rating = rating
        self._event(
            ticket, "rated", evidence_at=self.clock(), actor=user, role="client", rating=rating
        )
        if ticket.status is TicketStatus.RESOLVED:
            self._close(ticket, self.clock(), user, "client")
        await self.session.flush()
        return ticket

    # -- engineer side ----------------------------------------------------------------

    async def ticket_for_topic(self, chat_id: int, thread_id: int) -> Ticket | None:
        return await self.tickets.by_topic(chat_id, thread_id)

    async def ticket_for_group_message(self, chat_id: int, message_id: int) -> Ticket | None:
        return await self.tickets.by_group_message(chat_id, message_id)

    async def record_engineer_message(
        self, ticket_id: int, incoming: IncomingMessage, *, internal: bool
    ) -> Message | None:
        """Records an engineer's message; None if this Telegram message was already seen."""
        if await self.tickets.message(incoming.chat_id, incoming.message_id) is not None:
            return None
        ticket = await self._ticket(ticket_id)
        deliverable = not internal and ticket.channel is Channel.TELEGRAM
        message = self._message_row(
            ticket,
            incoming,
            Direction.TO_CLIENT if deliverable else Direction.NOTE,
            Delivery.PENDING if deliverable else Delivery.NOT_APPLICABLE,
        )
        self.session.add(message)
        await self.session.flush()
        return message

    async def mark_delivered(
        self, message_row_id: int, copy_chat_id: int, copy_message_id: int, *, flush: bool = True
    ) -> Message:
        """A copy reached its destination; an engineer's first one is the first response.

        `flush=False` leaves the changes to the caller's next flush: the outbox worker
        records a whole round of sends, and its commit writes them in one UPDATE per kind."""
        message = await self._message(message_row_id)
        message.copy_chat_id = copy_chat_id
        message.copy_message_id = copy_message_id
        message.delivery = Delivery.DELIVERED
        message.delivered_at = self.clock()
        message.delivery_error = None
        if message.direction is Direction.TO_CLIENT:
            ticket = await self._ticket(message.ticket_id)
            if ticket.first_response_at is None:
                # Terms A 5.2: the answer time is the engineer's own message time.
                responded_at = message.telegram_date or self.clock()
                ticket.first_response_at = responded_at
                self._event(
                    ticket,
                    "first_response",
                    evidence_at=responded_at,
                    actor=TelegramUser(message.sender_telegram_id or 0, ""),
                    role="engineer",
                    message_id=message.telegram_message_id,
                )
        if flush:
            await self.session.flush()
        return message

    async def mark_failed(self, message_row_id: int, error: str) -> Message:
        message = await self._message(message_row_id)
        message.delivery = Delivery.FAILED
        message.delivery_error = error[:2000]
        await self.session.flush()
        return message

    async def record_room_answer(self, ticket: Ticket, incoming: IncomingMessage) -> Message:
        """An engineer's message in an outage's room, as a message of one reporter's ticket:
        pending until its copy reaches the client, whose first response it may be."""
        message = self._message_row(ticket, incoming, Direction.TO_CLIENT, Delivery.PENDING)
        # One Telegram message answers many tickets: the room answer keeps its chat and id
        # once (crm/room_answers.py); each ticket's row keeps the id its copy is made from.
        message.chat_id = None
        self.session.add(message)
        await self.session.flush()
        return message

    async def record_bot_message(self, ticket_id: int, chat_id: int, text: str) -> Message:
        """The bot's own words to a client (acknowledgements, notices), pending delivery."""
        message = Message(
            ticket_id=ticket_id,
            direction=Direction.BOT,
            copy_chat_id=chat_id,
            content_type="text",
            text=text,
            file_ids=[],
            received_at=self.clock(),
            delivery=Delivery.PENDING,
        )
        self.session.add(message)
        await self.session.flush()
        return message

    async def take(self, ticket_id: int, engineer: TelegramUser, when: datetime) -> Ticket:
        ticket = await self._ticket(ticket_id)
        ticket.assignee_telegram_id = engineer.id
        ticket.assignee_name = engineer.full_name
        self._event(ticket, "assigned", evidence_at=when, actor=engineer, role="engineer")
        await self.session.flush()
        return ticket

    async def resolve(self, ticket_id: int, engineer: TelegramUser, when: datetime) -> Ticket:
        ticket = await self._ticket(ticket_id)
        if ticket.status is not TicketStatus.OPEN:
            raise CrmError("not_open", ticket_id=ticket_id, status=ticket.status.value)
        ticket.status = TicketStatus.RESOLVED
        ticket.resolved_at = when
        self._event(ticket, "resolved", evidence_at=when, actor=engineer, role="engineer")
        await self.session.flush()
        return ticket

    async def reopen(self, ticket_id: int, engineer: TelegramUser, when: datetime) -> Ticket:
        ticket = await self._ticket(ticket_id)
        if ticket.status is TicketStatus.OPEN:
            raise CrmError("already_open", ticket_id=ticket_id)
        self._reopen(ticket, when, engineer, "engineer")
        await self.session.flush()
        return ticket

    async def open_offline_ticket(
        self,
        *,
        channel: Channel,
        customer_id: int,
        stated_at: datetime,
        text: str,
        engineer: TelegramUser,
        logged_at: datetime,
    ) -> Ticket:
        """A request received by phone or e-mail, logged by the engineer who took it."""
        if await self.customers.get(customer_id) is None:
            raise CrmError("unknown_customer", customer_id=customer_id)
        ticket = await self._open_ticket(
            channel=channel,
            opened_at=stated_at,
            contact=None,
            customer_id=customer_id,
            client_chat_id=None,
            actor=engineer,
            role="engineer",
        )
        self.session.add(
            Message(
                ticket_id=ticket.id,
                direction=Direction.FROM_CLIENT,
                sender_telegram_id=engineer.id,
                content_type="text",
                text=text,
                file_ids=[],
                telegram_date=stated_at,
                received_at=logged_at,
                delivery=Delivery.NOT_APPLICABLE,
            )
        )
        await self.session.flush()
        return await self._fresh(ticket.id)

    # -- shared -----------------------------------------------------------------------

    def _reopen(self, ticket: Ticket, when: datetime, actor: TelegramUser, role: str) -> None:
        ticket.status = TicketStatus.OPEN
        ticket.resolved_at = None
        ticket.closed_at = None
        self._event(ticket, "reopened", evidence_at=when, actor=actor, role=role)

    def _close(
        self, ticket: Ticket, when: datetime, actor: TelegramUser | None, role: str, **details: Any
    ) -> None:
        ticket.status = TicketStatus.CLOSED
        ticket.closed_at = when
        self._event(ticket, "closed", evidence_at=when, actor=actor, role=role, **details)

    async def _ticket(self, ticket_id: int) -> Ticket:
        ticket = await self.tickets.get(ticket_id)
        if ticket is None:
            raise CrmError("unknown_ticket", ticket_id=ticket_id)
        return ticket

    async def _fresh(self, ticket_id: int) -> Ticket:
        """The ticket with its contact, customer and service loaded, as handlers read them."""
        ticket = await self.session.get(Ticket, ticket_id, populate_existing=True)
        assert ticket is not None
        return ticket

    async def _message(self, row_id: int) -> Message:
        message = await self.tickets.message_by_id(row_id)
        if message is None:
            raise CrmError("unknown_message", message_id=row_id)
        return message

    async def link_customer(
        self, ticket_id: int, customer_id: int, engineer: TelegramUser, when: datetime
    ) -> Ticket:
        """An unknown customer's ticket given its customer; its contact too, for next time."""
        ticket = await self._ticket(ticket_id)
        if ticket.customer_id is not None:
            raise CrmError("already_linked", ticket_id=ticket_id, customer_id=ticket.customer_id)
        if await self.customers.get(customer_id) is None:
            raise CrmError("unknown_customer", customer_id=customer_id)
        ticket.customer_id = customer_id
        await self._bind_sole_service(ticket)
        if ticket.contact is not None and ticket.contact.customer_id is None:
            ticket.contact.customer_id = customer_id
            ticket.contact.linked_at = when
        self._event(
            ticket,
            "linked",
            evidence_at=when,
            actor=engineer,
            role="engineer",
            customer=customer_id,
        )
        await self.session.flush()
        await self.session.refresh(ticket, ["customer"])
        return ticket
