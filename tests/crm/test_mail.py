"""Mails as the CRM reads them, records them and answers them (no servers needed here:
tests/bot/test_mail_channel.py and tests/e2e/test_mail_e2e.py use real ones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts import ContactService, normalize_address
from crm.customers import CustomerService
from crm.dto import IncomingMessage, TelegramUser
from crm.errors import CrmError
from crm.mail import FetchedMail, OutgoingMail, parse_mail, reply_subject, text_chunks
from crm.mailbox import Mailbox
from crm.models import TicketStatus
from crm.outbox import Outbox
from crm.tickets import TicketService
from crm.usecases.mail_received import mail_received
from crm.usecases.mail_reply import email_reply

ARRIVED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def raw_mail(
    text: str = "VM 7 is down",
    *,
    sender: str = "Ops <ops@acme.kz>",
    subject: str = "Down",
    message_id: str = "<q1@acme.kz>",
    in_reply_to: str | None = None,
) -> bytes:
    mail = EmailMessage()
    mail["From"] = sender
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    mail["Date"] = "Mon, 02 Nov 2026 16:00:00 +0500"
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    mail.set_content(text)
    return mail.as_bytes()


def fetched(raw: bytes, uid: int, *, arrived: datetime = ARRIVED) -> FetchedMail:
    return FetchedMail(
        raw=raw,
        mailbox="desk@imap/INBOX",
        uidvalidity=7,
        uid=uid,
        internal_date=arrived,
        fetched_at=arrived + timedelta(seconds=40),
    )


def test_a_mail_is_read_with_its_threading_headers_and_attachments() -> None:
    mail = EmailMessage()
    mail["From"] = "=?utf-8?q?=D0=90=D0=B9=D0=B3=D0=B5=D1=80=D0=B8=D0=BC?= <Ops@Acme.KZ>"
    mail["Reply-To"] = "tickets@acme.kz"
    mail["Subject"] = "Re: VM [#12]"
    mail["Message-ID"] = "<a@acme.kz>"
    mail["In-Reply-To"] = "<b@desk>"
    mail["References"] = "<x@desk> <b@desk>"
    mail["Date"] = "Mon, 02 Nov 2026 16:00:00 +0500"
    mail.set_content("plain words")
    mail.add_alternative("<p>html <b>words</b></p>", subtype="html")
    mail.add_attachment(b"log", maintype="text", subtype="plain", filename="boot.log")
    parsed = parse_mail(mail.as_bytes())
    assert parsed.error is None
    assert (parsed.from_address, parsed.from_name) == ("ops@acme.kz", "Айгерим")
    assert parsed.answer_to == "tickets@acme.kz"
    assert parsed.thread_ids == ["<b@desk>", "<x@desk>"]
    assert parsed.ticket_tag == 12
    assert parsed.date_header == datetime(2026, 11, 2, 11, 0, tzinfo=UTC)
    assert parsed.text == "plain words"
    assert [(a.file_name, a.data) for a in parsed.attachments] == [("boot.log", b"log")]


def test_an_html_only_mail_is_read_as_text_and_garbage_is_reported() -> None:
    mail = EmailMessage()
    mail["From"] = "ops@acme.kz"
    mail.set_content("<div>line one<br>line two</div>", subtype="html")
    assert parse_mail(mail.as_bytes()).text == "line one\nline two"
    assert parse_mail(b"\xff\xfe not a mail").error == "no sender"


def test_the_answer_subject_and_chunks() -> None:
    assert reply_subject("RE: Fwd: VM down [#3]", 3) == "Re: VM down [#3]"
    assert reply_subject(None, 4) == "Re: Support request [#4]"
    assert text_chunks("") == [""]
    chunks = text_chunks("a" * 3000 + "\n" + "b" * 3000)
    assert chunks == ["a" * 3000, "b" * 3000]


def test_an_answer_carries_the_threading_headers() -> None:
    outgoing = OutgoingMail(
        mail_from="Support <support@desk.example>",
        to="ops@acme.kz",
        subject="Re: Down [#1]",
        text="Fixed",
        message_id="<r1@desk.example>",
        in_reply_to="<q1@acme.kz>",
        references=("<q0@acme.kz>", "<q1@acme.kz>"),
    )
    again = OutgoingMail.from_payload(outgoing.payload())
    assert again == outgoing
    built = again.build(ARRIVED)
    assert built["In-Reply-To"] == "<q1@acme.kz>"
    assert built["References"] == "<q0@acme.kz> <q1@acme.kz>"
    assert built["Message-ID"] == "<r1@desk.example>"


def test_addresses_are_normalized() -> None:
    assert normalize_address(" Ops <OPS@Acme.kz> ") == "ops@acme.kz"
    assert normalize_address("not an address") is None
    assert normalize_address("a@localhost") is None


async def test_contact_addresses_tie_mails_to_customers(session: AsyncSession) -> None:
    customer = await CustomerService(session).add_customer("Acme")
    contacts = ContactService(session)
    await contacts.add_email(customer.id, "Ops@Acme.kz")
    assert await contacts.customer_for_email("ops@acme.KZ") == customer.id
    assert await contacts.customer_for_email("else@acme.kz") is None
    with pytest.raises(CrmError):
        await contacts.add_email(999, "x@acme.kz")


async def test_a_mail_opens_a_ticket_at_its_arrival_and_once(tickets: TicketService) -> None:
    first = await mail_received(tickets, fetched(raw_mail(), 1))
    assert first is not None and first.opened
    assert first.ticket.opened_at == ARRIVED  # not the Date header, not the fetch
    assert first.ticket.response_due_at == ARRIVED + timedelta(hours=24)
    assert first.ticket.customer_id is None
    assert await mail_received(tickets, fetched(raw_mail(), 1)) is None  # the same UID
    assert await mail_received(tickets, fetched(raw_mail(), 2)) is None  # the same Message-ID


async def test_a_reply_joins_its_ticket_and_reopens_it_while_the_window_lasts(
    tickets: TicketService,
) -> None:
    opened = await mail_received(tickets, fetched(raw_mail(), 1))
    assert opened is not None
    ticket = opened.ticket
    ticket.status = TicketStatus.RESOLVED
    ticket.resolved_at = ARRIVED + timedelta(hours=1)
    reply = raw_mail("still down", message_id="<q2@acme.kz>", in_reply_to="<q1@acme.kz>")
    joined = await mail_received(tickets, fetched(reply, 2, arrived=ARRIVED + timedelta(hours=2)))
    assert joined is not None and joined.ticket.id == ticket.id and joined.reopened
    assert joined.ticket.status is TicketStatus.OPEN
    late = raw_mail("again", message_id="<q3@acme.kz>", in_reply_to="<q2@acme.kz>")
    joined.ticket.status = TicketStatus.CLOSED
    new = await mail_received(tickets, fetched(late, 3, arrived=ARRIVED + timedelta(days=1)))
    assert new is not None and new.opened and new.ticket.id != ticket.id


async def test_the_smtp_acceptance_is_the_first_response(tickets: TicketService) -> None:
    opened = await mail_received(tickets, fetched(raw_mail(), 1))
    assert opened is not None
    engineer = IncomingMessage(
        chat_id=-100,
        message_id=5,
        sender=TelegramUser(1, "Dana"),
        content_type="text",
        telegram_date=ARRIVED + timedelta(minutes=10),
        text="Fixed",
    )
    outgoing = await email_reply(
        tickets, Outbox(tickets.session), opened.ticket, engineer, "support@desk.example"
    )
    assert outgoing is not None and outgoing.in_reply_to == "<q1@acme.kz>"
    assert outgoing.subject == "Re: Down [#1]"
    accepted_at = ARRIVED + timedelta(minutes=12)
    mailbox = Mailbox(tickets)
    message = await tickets.tickets.message(-100, 5)
    assert message is not None
    ticket = await mailbox.accepted(message.id, accepted_at)
    assert ticket is not None and ticket.first_response_at == accepted_at
    assert await mailbox.accepted(message.id, accepted_at + timedelta(minutes=1)) is None
