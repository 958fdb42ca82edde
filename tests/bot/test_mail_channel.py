"""The e-mail channel against real servers (Dovecot from .ci/run, aiosmtpd started here):
mails become tickets once, join their ticket, and engineers' answers leave by SMTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from aiogram.methods import CreateForumTopic, SendDocument, SendMessage, SetMessageReaction
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.app import build_dispatcher
from bot.mail_reader import MailReader
from bot.mailer import MailSender
from bot.metrics import DeskMetrics
from bot.outbox import OutboxWorker, RateLimits
from bot.settings import BotSettings
from crm.contacts import ContactService
from crm.customers import CustomerService
from tests.conftest import SUPPORT_CHAT_ID, Updates
from tests.db import rows
from tests.mail_servers import SmtpInbox, client_mail, deliver, imap_url, smtp_server
from tests.mocked_bot import MockedBot

__all__ = ["imap_url", "smtp_server"]

TOPIC = 100  # the first thread id the mocked session hands out


@dataclass
class MailDesk:
    reader: MailReader
    worker: OutboxWorker
    dispatcher: object
    bot: MockedBot
    imap_url: str
    smtp: SmtpInbox

    async def poll(self) -> int:
        new = await self.reader.poll_once()
        await self.worker.drain(timeout=20)
        return new

    async def feed(self, update: object) -> None:
        await self.dispatcher.feed_update(self.bot, update)  # type: ignore[attr-defined]
        await self.worker.drain(timeout=20)


@pytest.fixture
async def desk(
    settings: BotSettings,
    sessionmaker: async_sessionmaker[AsyncSession],
    i18n: I18n,
    bot: MockedBot,
    imap_url: str,
    smtp_server: SmtpInbox,
) -> AsyncIterator[MailDesk]:
    settings = settings.model_copy(
        update={
            "imap_url": imap_url,
            "smtp_url": smtp_server.url,
            "mail_from": "support@desk.example",
        }
    )
    settings = BotSettings.model_validate(settings.model_dump())
    metrics = DeskMetrics()
    worker = OutboxWorker(
        bot,
        sessionmaker,
        i18n,
        settings.engineer_language,
        RateLimits(overall_per_second=1000, private_per_second=1000, group_per_minute=1000),
        backoff_seconds=0,
        jobs=MailSender(settings, sessionmaker, i18n).jobs(),
        metrics=metrics,
    )
    dispatcher = build_dispatcher(settings, sessionmaker, i18n, worker.kick, metrics=metrics)
    reader = MailReader(settings, sessionmaker, i18n, worker.kick)
    async with sessionmaker() as session:
        customer = await CustomerService(session).add_customer("Acme")
        await ContactService(session).add_email(customer.id, "ops@acme.kz")
        await session.commit()
    yield MailDesk(reader, worker, dispatcher, bot, imap_url, smtp_server)
    await worker.close()


def topic_texts(bot: MockedBot) -> list[str]:
    return [
        m.text
        for m in bot.session.sent("sendMessage")
        if isinstance(m, SendMessage) and m.chat_id == SUPPORT_CHAT_ID
    ]


def topics(bot: MockedBot) -> list[str]:
    return [m.name for m in bot.session.sent("createForumTopic") if isinstance(m, CreateForumTopic)]


async def test_a_mail_fetched_twice_makes_one_ticket(desk: MailDesk, database_url: str) -> None:
    mail = client_mail("Disk full on VM 7")
    await deliver(desk.imap_url, mail)
    assert await desk.poll() == 1
    assert await desk.poll() == 0  # the next poll finds nothing new
    # A restart between the commit and the \\Seen flag (or a second instance) fetches it again.
    uidvalidity = rows(database_url, "select uidvalidity from mail_messages")[0][0]
    client = await desk.reader._connect()
    try:
        await client.select("INBOX")
        again = await desk.reader._fetch(client, int(uidvalidity), 1)
    finally:
        await client.logout()
    assert again is not None
    assert await desk.reader.record(again) is False
    # The same mail delivered again (a copy under a new UID): still one ticket.
    await deliver(desk.imap_url, mail)
    assert await desk.poll() == 0
    assert rows(database_url, "select count(*) from tickets") == [(1,)]
    assert rows(database_url, "select count(*) from mail_messages") == [(2,)]
    assert topics(desk.bot) == ["#1 · Acme · no category yet"]


async def test_the_mailbox_time_starts_the_clock_and_all_three_times_are_kept(
    desk: MailDesk, database_url: str
) -> None:
    arrived = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    written = arrived - timedelta(days=2)  # the sender's clock
    await deliver(desk.imap_url, client_mail("Hello", date=written), arrived=arrived)
    await desk.poll()
    (opened, due), *_ = rows(database_url, "select opened_at, response_due_at from tickets")
    assert opened.startswith(arrived.strftime("%Y-%m-%d %H:%M:%S"))
    assert due.startswith((arrived + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M:%S"))
    (header, internal, fetched), *_ = rows(
        database_url, "select date_header, internal_date, fetched_at from mail_messages"
    )
    assert header.startswith(written.strftime("%Y-%m-%d %H:%M:%S"))
    assert internal.startswith(arrived.strftime("%Y-%m-%d %H:%M:%S"))
    assert fetched > internal


async def test_an_unknown_sender_gets_a_ticket_marked_unknown(
    desk: MailDesk, database_url: str
) -> None:
    await deliver(desk.imap_url, client_mail("Who am I", sender="stranger@else.kz"))
    await desk.poll()
    assert topics(desk.bot) == ["#1 · unknown customer · no category yet"]
    assert rows(database_url, "select customer_id, channel from tickets") == [(None, "email")]
    assert any("contact add" in text for text in topic_texts(desk.bot))


async def test_a_mail_that_cannot_be_read_is_kept_with_its_source(
    desk: MailDesk, database_url: str
) -> None:
    raw = b"\xff\xfe this is not a mail at all\r\n\r\n\xfe\xfe"
    await deliver(desk.imap_url, raw)
    await desk.poll()
    assert rows(database_url, "select count(*) from tickets") == [(1,)]
    (error, kept), *_ = rows(database_url, "select parse_error, raw from mail_messages")
    assert error == "no sender" and bytes(kept).replace(b"\r\n", b"\n") == raw.replace(
        b"\r\n", b"\n"
    )
    documents = [m for m in desk.bot.session.sent("sendDocument") if isinstance(m, SendDocument)]
    assert [d.message_thread_id for d in documents] == [TOPIC]
    assert any("could not be read" in text for text in topic_texts(desk.bot))


async def test_an_answer_goes_by_smtp_threaded_and_is_the_first_response(
    desk: MailDesk, updates: Updates, database_url: str
) -> None:
    question = client_mail("VM 42 down", subject="Re: Fwd: VM 42 [#99]")
    await deliver(desk.imap_url, question, arrived=updates.now - timedelta(minutes=5))
    await desk.poll()
    await desk.feed(updates.group("!internal: checking the host", thread_id=TOPIC))
    assert desk.smtp.received == []
    await desk.feed(updates.group("Fixed, sorry for the trouble.", thread_id=TOPIC))
    (answer,) = desk.smtp.received
    assert answer["Subject"] == "Re: VM 42 [#1]"
    assert answer["In-Reply-To"] == question["Message-ID"]
    assert answer["References"] == question["Message-ID"]
    assert answer["To"] == "ops@acme.kz"
    assert answer["Message-ID"].endswith("@desk.example>")
    reactions = [m for m in desk.bot.session.sent("setMessageReaction")]
    assert [r.reaction[0].emoji for r in reactions if isinstance(r, SetMessageReaction)] == [
        "✍",
        "👌",
    ]
    (accepted, responded), *_ = rows(
        database_url,
        "select m.accepted_at, t.first_response_at from mail_messages m, tickets t "
        "where m.direction='to_client'",
    )
    assert accepted == responded
    assert rows(database_url, "select delivery from messages where direction='to_client'") == [
        ("delivered",)
    ]
    # The client answers with the tag only (their program dropped the headers): same ticket.
    await deliver(desk.imap_url, client_mail("Works now", subject="Thanks [#1]"))
    # Someone else using the tag does not join it.
    await deliver(desk.imap_url, client_mail("Me too", sender="x@other.kz", subject="Thanks [#1]"))
    await desk.poll()
    assert rows(
        database_url, "select ticket_id from mail_messages where direction='from_client'"
    ) == [
        (1,),
        (1,),
        (2,),
    ]


async def test_a_refused_answer_is_told_to_the_engineers_and_is_no_response(
    desk: MailDesk, updates: Updates, database_url: str
) -> None:
    await deliver(desk.imap_url, client_mail("Help"), arrived=updates.now - timedelta(minutes=5))
    await desk.poll()
    desk.smtp.refuse = True
    await desk.feed(updates.group("Here is the fix", thread_id=TOPIC))
    assert rows(database_url, "select first_response_at from tickets") == [(None,)]
    assert rows(database_url, "select delivery from messages where direction='to_client'") == [
        ("failed",)
    ]
    assert any("Not delivered to the client" in text for text in topic_texts(desk.bot))


async def test_sent_records_an_answer_given_outside_the_desk(
    desk: MailDesk, updates: Updates, database_url: str
) -> None:
    await deliver(desk.imap_url, client_mail("Help"), arrived=updates.now - timedelta(minutes=5))
    await desk.poll()
    answered = updates.now + timedelta(minutes=3)
    await desk.feed(updates.group("/sent Called them back", thread_id=TOPIC, date=answered))
    assert desk.smtp.received == []
    assert rows(database_url, "select first_response_at from tickets") == [
        ("2026-11-02 09:03:00.000000",)
    ]
    assert any("Recorded as answered" in text for text in topic_texts(desk.bot))


async def test_a_bare_file_stays_a_note_and_a_caption_goes_by_mail(
    desk: MailDesk, updates: Updates, database_url: str
) -> None:
    await deliver(desk.imap_url, client_mail("Help"), arrived=updates.now - timedelta(minutes=5))
    await desk.poll()
    document = {"file_id": "f1", "file_unique_id": "u1", "file_name": "fix.sh"}
    await desk.feed(updates.group(thread_id=TOPIC, document=document))
    assert desk.smtp.received == []
    assert any("stays here as a note" in text for text in topic_texts(desk.bot))
    await desk.feed(updates.group(thread_id=TOPIC, document=document, caption="Run this"))
    (answer,) = desk.smtp.received
    assert answer.get_content().strip() == "Run this"
    assert rows(database_url, "select direction from messages where ticket_id=1 order by id") == [
        ("from_client",),
        ("note",),
        ("to_client",),
    ]
