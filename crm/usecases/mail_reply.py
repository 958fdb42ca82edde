"""An engineer answers an e-mail ticket: by mail through the desk, or logged by `/sent`."""

from __future__ import annotations

from crm.dto import IncomingMessage
from crm.mail import OutgoingMail
from crm.mailbox import Mailbox
from crm.models import Delivery, Direction, Message, Ticket
from crm.outbox import Outbox
from crm.tickets import TicketService


async def email_reply(
    tickets: TicketService,
    outbox: Outbox,
    ticket: Ticket,
    incoming: IncomingMessage,
    mail_from: str,
) -> OutgoingMail | None:
    """The engineer's message, recorded for the client and queued as a mail (the outbox's
    e-mail sender sends it, bot/mailer.py); None when it is a redelivery or the ticket has
    no address to answer (then the message stays a note, as before)."""
    if await tickets.tickets.message(incoming.chat_id, incoming.message_id) is not None:
        return None
    mailbox = Mailbox(tickets, tickets.clock)
    if await mailbox.client_address(ticket.id) is None:
        return None
    message = tickets._message_row(ticket, incoming, Direction.TO_CLIENT, Delivery.PENDING)
    tickets.session.add(message)
    await tickets.session.flush()
    outgoing = await mailbox.answer(ticket, message, mail_from)
    assert outgoing is not None
    outbox.send_email(outgoing.payload(), ticket_id=ticket.id, message_row_id=message.id)
    return outgoing


async def answered_elsewhere(
    tickets: TicketService, ticket: Ticket, incoming: IncomingMessage, text: str
) -> Message | None:
    """`/sent TEXT`: an answer the engineer gave outside the desk (their own mailbox, a
    call back). It is the response at the time of the engineer's `/sent` message."""
    if await tickets.tickets.message(incoming.chat_id, incoming.message_id) is not None:
        return None
    message = tickets._message_row(ticket, incoming, Direction.TO_CLIENT, Delivery.PENDING)
    message.text = text
    tickets.session.add(message)
    await tickets.session.flush()
    return await tickets.mark_delivered(message.id, incoming.chat_id, incoming.message_id)
