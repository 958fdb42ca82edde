"""The support mailbox in the CRM: mails become tickets, answers become mails.

A fetched mail is recorded once (its mailbox UIDVALIDITY and UID, and its Message-ID),
joined to the ticket it answers (In-Reply-To/References against the Message-IDs recorded
here, or a `[#N]` tag in the subject from an address of that ticket) or opening a new one.

The e-mail clock starts at the mail's arrival in the provider's mailbox (the IMAP
INTERNALDATE), the mail's counterpart of Telegram's `date`: the sender's `Date` header is
the sender's own clock and can be anything, the fetch time depends on how often, and
whether, the desk polls. Both are kept beside it. The first response is the time the SMTP
server accepted the engineer's answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.contacts import ContactService
from crm.mail import FetchedMail, OutgoingMail, ParsedMail, new_message_id, reply_subject
from crm.models import (
    Channel,
    Delivery,
    Direction,
    MailMessage,
    Message,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from crm.tickets import TicketService


@dataclass(frozen=True, slots=True)
class MailRecorded:
    ticket: Ticket
    message: Message
    mail: MailMessage
    parsed: ParsedMail
    opened: bool
    reopened: bool


def evidence_time(fetched: FetchedMail) -> datetime:
    """When the request reached the provider: the mailbox's arrival time, never later than
    the fetch (a server clock ahead of ours cannot push the clock's start forward)."""
    arrived = fetched.internal_date or fetched.fetched_at
    return min(arrived, fetched.fetched_at)


class Mailbox:
    def __init__(self, tickets: TicketService, clock: Clock = utc_now) -> None:
        self.tickets = tickets
        self.session: AsyncSession = tickets.session
        self.clock = clock
        self.contacts = ContactService(tickets.session, clock)

    async def seen(self, fetched: FetchedMail) -> bool:
        found = await self.session.scalar(
            select(MailMessage.id).where(
                MailMessage.mailbox == fetched.mailbox,
                MailMessage.uidvalidity == fetched.uidvalidity,
                MailMessage.uid == fetched.uid,
            )
        )
        return found is not None

    async def last_uid(self, mailbox: str, uidvalidity: int) -> int:
        found = await self.session.scalar(
            select(MailMessage.uid)
            .where(MailMessage.mailbox == mailbox, MailMessage.uidvalidity == uidvalidity)
            .order_by(MailMessage.uid.desc())
            .limit(1)
        )
        return int(found or 0)

    async def _by_message_id(
        self, message_id: str, direction: Direction | None = None
    ) -> MailMessage | None:
        query = select(MailMessage).where(MailMessage.message_id == message_id)
        if direction is not None:
            query = query.where(MailMessage.direction == direction)
        return await self.session.scalar(query.order_by(MailMessage.id).limit(1))

    async def record_incoming(
        self, fetched: FetchedMail, parsed: ParsedMail
    ) -> MailRecorded | None:
        """Records a fetched mail and its ticket; None when it was recorded before."""
        if await self.seen(fetched):
            return None
        same = parsed.message_id and await self._by_message_id(
            parsed.message_id, Direction.FROM_CLIENT
        )
        if same:
            # The same mail under another UID (a mailbox rebuilt, a copy): kept, not a ticket.
            self.session.add(self._mail_row(fetched, parsed, None, None))
            await self.session.flush()
            return None
        when = evidence_time(fetched)
        customer_id = await self.contacts.customer_for_email(parsed.from_address)
        ticket, reopened = await self._thread_ticket(parsed, customer_id, when)
        opened = ticket is None
        if ticket is None:
            ticket = await self.tickets._open_ticket(
                channel=Channel.EMAIL,
                opened_at=when,
                contact=None,
                customer_id=customer_id,
                client_chat_id=None,
                actor=None,
                role="client",
            )
        message = Message(
            ticket_id=ticket.id,
            direction=Direction.FROM_CLIENT,
            content_type="email",
            text=parsed.text if parsed.error is None else None,
            file_ids=[],
            telegram_date=when,
            received_at=fetched.fetched_at,
            delivery=Delivery.PENDING,
        )
        self.session.add(message)
        await self.session.flush()
        mail = self._mail_row(fetched, parsed, ticket.id, message.id)
        self.session.add(mail)
        await self.session.flush()
        ticket = await self.tickets._fresh(ticket.id)
        return MailRecorded(ticket, message, mail, parsed, opened, reopened)

    def _mail_row(
        self, fetched: FetchedMail, parsed: ParsedMail, ticket_id: int | None, row: int | None
    ) -> MailMessage:
        return MailMessage(
            direction=Direction.FROM_CLIENT,
            ticket_id=ticket_id,
            message_row_id=row,
            mailbox=fetched.mailbox,
            uidvalidity=fetched.uidvalidity,
            uid=fetched.uid,
            message_id=parsed.message_id,
            in_reply_to=parsed.in_reply_to,
            references=" ".join(parsed.references) or None,
            from_address=parsed.answer_to,
            subject=parsed.subject or None,
            date_header=parsed.date_header,
            internal_date=fetched.internal_date,
            fetched_at=fetched.fetched_at,
            raw=fetched.raw,
            parse_error=parsed.error,
            created_at=self.clock(),
        )

    async def _thread_ticket(
        self, parsed: ParsedMail, customer_id: int | None, when: datetime
    ) -> tuple[Ticket | None, bool]:
        """The ticket this mail continues, reopened if it was resolved; (None, False) for a
        new request (no thread, or one closed or resolved beyond the reopen window)."""
        ticket: Ticket | None = None
        for message_id in parsed.thread_ids:
            known = await self._by_message_id(message_id)
            if known is not None and known.ticket_id is not None:
                ticket = await self.tickets.tickets.get(known.ticket_id)
                break
        if ticket is None and parsed.ticket_tag is not None:
            tagged = await self.tickets.tickets.get(parsed.ticket_tag)
            if tagged is not None and await self._may_join(tagged, parsed, customer_id):
                ticket = tagged
        if ticket is None or ticket.status is TicketStatus.OPEN:
            return ticket, False
        resolved_at = ticket.resolved_at or ticket.opened_at
        if ticket.status is TicketStatus.CLOSED or when - resolved_at > self.tickets.reopen_window:
            return None, False
        ticket.status = TicketStatus.OPEN
        ticket.resolved_at = None
        self._event(ticket, "reopened", when, via="email")
        return ticket, True

    async def _may_join(self, ticket: Ticket, parsed: ParsedMail, customer_id: int | None) -> bool:
        """A tag joins only an e-mail ticket of the same customer or of the same address:
        anyone can type `[#12]` in a subject."""
        if ticket.channel is not Channel.EMAIL:
            return False
        if customer_id is not None and ticket.customer_id == customer_id:
            return True
        address = parsed.answer_to
        if address is None:
            return False
        found = await self.session.scalar(
            select(MailMessage.id).where(
                MailMessage.ticket_id == ticket.id, MailMessage.from_address == address
            )
        )
        return found is not None

    def _event(
        self, ticket: Ticket, kind: str, when: datetime, actor: int | None = None, **details: object
    ) -> None:
        self.session.add(
            TicketEvent(
                ticket_id=ticket.id,
                kind=kind,
                actor_telegram_id=actor,
                actor_role="client" if kind == "reopened" else "engineer",
                evidence_at=when,
                recorded_at=self.clock(),
                details=dict(details),
            )
        )

    # -- answers --------------------------------------------------------------------------

    async def client_address(self, ticket_id: int) -> MailMessage | None:
        """The ticket's latest mail from the client: whom to answer, and what it answers."""
        return await self.session.scalar(
            select(MailMessage)
            .where(
                MailMessage.ticket_id == ticket_id,
                MailMessage.direction == Direction.FROM_CLIENT,
                MailMessage.from_address.is_not(None),
            )
            .order_by(MailMessage.id.desc())
            .limit(1)
        )

    async def answer(self, ticket: Ticket, message: Message, mail_from: str) -> OutgoingMail | None:
        """The mail carrying an engineer's message, recorded; None if the ticket has no
        client address (an `/email` ticket logged by hand: the answer goes elsewhere)."""
        last = await self.client_address(ticket.id)
        if last is None or last.from_address is None:
            return None
        references = tuple((last.references or "").split())
        if last.message_id and last.message_id not in references:
            references += (last.message_id,)
        first = await self.session.scalar(
            select(MailMessage.subject)
            .where(
                MailMessage.ticket_id == ticket.id,
                MailMessage.direction == Direction.FROM_CLIENT,
            )
            .order_by(MailMessage.id)
            .limit(1)
        )
        outgoing = OutgoingMail(
            mail_from=mail_from,
            to=last.from_address,
            subject=reply_subject(first, ticket.id),
            text=message.text or "",
            message_id=new_message_id(mail_from),
            in_reply_to=last.message_id,
            references=references[-20:],
        )
        self.session.add(
            MailMessage(
                direction=Direction.TO_CLIENT,
                ticket_id=ticket.id,
                message_row_id=message.id,
                message_id=outgoing.message_id,
                in_reply_to=outgoing.in_reply_to,
                references=" ".join(outgoing.references) or None,
                from_address=mail_from,
                to_address=outgoing.to,
                subject=outgoing.subject,
                created_at=self.clock(),
            )
        )
        await self.session.flush()
        return outgoing

    async def accepted(self, message_row_id: int, accepted_at: datetime) -> Ticket | None:
        """The SMTP server took the answer: the message is delivered and, the first time,
        it is the ticket's first response, at the server's acceptance."""
        message = await self.session.get(Message, message_row_id)
        if message is None or message.delivery is Delivery.DELIVERED:
            return None
        message.delivery = Delivery.DELIVERED
        message.delivered_at = accepted_at
        message.delivery_error = None
        mail = await self.session.scalar(
            select(MailMessage).where(
                MailMessage.message_row_id == message_row_id,
                MailMessage.direction == Direction.TO_CLIENT,
            )
        )
        if mail is not None:
            mail.accepted_at = accepted_at
        ticket = await self.tickets._ticket(message.ticket_id)
        if ticket.first_response_at is None:
            ticket.first_response_at = max(accepted_at, ticket.opened_at)
            self._event(
                ticket,
                "first_response",
                ticket.first_response_at,
                actor=message.sender_telegram_id,
                via="smtp",
                message_id=mail.message_id if mail else None,
            )
        await self.session.flush()
        return ticket

    async def failed(self, message_row_id: int, error: str) -> Ticket | None:
        message = await self.tickets.mark_failed(message_row_id, error)
        return await self.tickets.tickets.get(message.ticket_id)
