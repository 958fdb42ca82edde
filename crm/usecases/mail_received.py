"""A mail arrived in the support mailbox: a ticket opened, continued or reopened."""

from __future__ import annotations

from crm.mail import FetchedMail, parse_mail
from crm.mailbox import Mailbox, MailRecorded
from crm.tickets import TicketService


async def mail_received(tickets: TicketService, fetched: FetchedMail) -> MailRecorded | None:
    """Records the mail (even one that cannot be read: its source is kept) and its ticket;
    None when this mail was recorded before. The caller shows it in the ticket's topic."""
    return await Mailbox(tickets, tickets.clock).record_incoming(fetched, parse_mail(fetched.raw))
