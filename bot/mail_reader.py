"""The support mailbox, read over IMAP: each new mail becomes a ticket's message.

Every poll: log in, SELECT the mailbox, ask for the UIDs after the last one recorded for
its UIDVALIDITY, and for each: fetch it (no transaction open), record it in one short
transaction (crm/usecases/mail_received.py) with the topic rows it makes the desk post,
commit, then mark it \\Seen. A mail fetched twice (a restart between the commit and the
flag, two instances) is recorded once: its UIDVALIDITY and UID are unique.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import aioimaplib
import structlog
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.desk import Desk
from bot.middlewares import ticket_service
from bot.settings import BotSettings
from crm.clock import utc_now
from crm.mail import FetchedMail, text_chunks
from crm.mailbox import Mailbox, MailRecorded
from crm.models import Purpose
from crm.outbox import Outbox
from crm.usecases.mail_received import mail_received

log = structlog.get_logger()

FETCH_LINE = re.compile(rb"UID (\d+).*?INTERNALDATE \"([^\"]+)\"", re.S)
UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
# Telegram takes documents up to 50 MB from a bot.
DOCUMENT_LIMIT = 50 * 1024 * 1024
BATCH = 50


@dataclass(frozen=True, slots=True)
class ImapTarget:
    host: str
    port: int
    user: str
    password: str
    mailbox: str
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> ImapTarget:
        parts = urlsplit(url)
        tls = parts.scheme == "imaps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (993 if tls else 143),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
            tls=tls,
        )

    @property
    def label(self) -> str:
        """The mailbox as recorded with each mail: UIDs are only unique within it."""
        return f"{self.user}@{self.host}/{self.mailbox}"[:200]


class ImapError(Exception):
    """The server refused a command."""


def _ok(response: Any, what: str) -> Any:
    if response.result != "OK":
        raise ImapError(f"{what}: {response.result} {response.lines[-1:]!r}")
    return response


def _internal_date(text: bytes) -> datetime | None:
    # IMAP's "02-Dec-2026 12:29:29 +0000" is RFC 5322's date without the day name.
    day, month, year_time = text.decode().split("-", 2)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        return parsedate_to_datetime(f"{day} {month} {year_time}").astimezone(UTC)
    return None


class MailReader:
    def __init__(
        self,
        settings: BotSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        i18n: I18n,
        on_commit: Callable[[], None],
        write_gate: asyncio.Lock | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        assert settings.imap_url is not None
        self.settings = settings
        self.target = ImapTarget.from_url(settings.imap_url.get_secret_value())
        self.sessionmaker = sessionmaker
        self.i18n = i18n
        self.on_commit = on_commit
        self.write_gate = write_gate or contextlib.nullcontext()
        self.clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Polls until `stop`; a mailbox that cannot be reached is logged and tried again."""
        log.info("mail_reader_started", mailbox=self.target.label)
        while not stop.is_set():
            try:
                await self.poll_once()
            except (OSError, TimeoutError, ImapError, aioimaplib.Abort) as error:
                log.warning("mail_reader_error", error=repr(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.mail_poll_seconds)

    async def _connect(self) -> aioimaplib.IMAP4:
        target = self.target
        client_class = aioimaplib.IMAP4_SSL if target.tls else aioimaplib.IMAP4
        client = client_class(host=target.host, port=target.port, timeout=30)
        await client.wait_hello_from_server()
        _ok(await client.login(target.user, target.password), "LOGIN")
        return client

    async def poll_once(self) -> int:
        """Records every new mail; returns how many were new."""
        client = await self._connect()
        try:
            selected = _ok(await client.select(self.target.mailbox), "SELECT")
            found = next(filter(None, (UIDVALIDITY.search(line) for line in selected.lines)), None)
            if found is None:
                raise ImapError("SELECT gave no UIDVALIDITY")
            uidvalidity = int(found.group(1))
            last = await self._last_uid(uidvalidity)
            searched = _ok(await client.uid_search(f"UID {last + 1}:*"), "UID SEARCH")
            uids = sorted(
                int(uid) for line in searched.lines[:-1] for uid in line.split() if int(uid) > last
            )
            recorded = 0
            for uid in uids[:BATCH]:
                fetched = await self._fetch(client, uidvalidity, uid)
                if fetched is not None and await self.record(fetched):
                    recorded += 1
                _ok(await client.uid("store", str(uid), "+FLAGS", r"(\Seen)"), "UID STORE")
            return recorded
        finally:
            with contextlib.suppress(Exception):
                await client.logout()

    async def _last_uid(self, uidvalidity: int) -> int:
        async with self.sessionmaker() as session:
            tickets = ticket_service(session, self.settings)
            return await Mailbox(tickets).last_uid(self.target.label, uidvalidity)

    async def _fetch(
        self, client: aioimaplib.IMAP4, uidvalidity: int, uid: int
    ) -> FetchedMail | None:
        response = _ok(
            await client.uid("fetch", str(uid), "(UID INTERNALDATE BODY.PEEK[])"), "UID FETCH"
        )
        lines = response.lines
        for index, line in enumerate(lines[:-1]):
            head = FETCH_LINE.search(bytes(line))
            if head is None or int(head.group(1)) != uid:
                continue
            raw = lines[index + 1]
            return FetchedMail(
                raw=bytes(raw),
                mailbox=self.target.label,
                uidvalidity=uidvalidity,
                uid=uid,
                internal_date=_internal_date(head.group(2)),
                fetched_at=self.clock(),
            )
        log.warning("mail_not_fetched", uid=uid)
        return None

    async def record(self, fetched: FetchedMail) -> bool:
        """One short transaction: the mail, its ticket and what the topic shows of it."""
        async with self.write_gate, self.sessionmaker() as session:
            tickets = ticket_service(session, self.settings)
            desk = Desk(self.settings, tickets, Outbox(session), self.i18n)
            try:
                with self.i18n.context(), self.i18n.use_locale(self.settings.engineer_language):
                    recorded = await mail_received(tickets, fetched)
                    if recorded is not None:
                        # Its topic's header card, when it opens one, lists the services.
                        await tickets.load_customer_services([recorded.ticket])
                        show_mail(desk, recorded)
                await session.commit()
            except IntegrityError:
                # Another instance recorded this very mail first.
                await session.rollback()
                return False
        if recorded is None:
            return False
        log.info(
            "mail_received",
            ticket=recorded.ticket.id,
            uid=fetched.uid,
            opened=recorded.opened,
            error=recorded.parsed.error,
        )
        self.on_commit()
        return True


def show_mail(desk: Desk, recorded: MailRecorded) -> None:
    """The mail in its ticket's topic: who, subject, when, the text, each attachment."""
    ticket, parsed, mail = recorded.ticket, recorded.parsed, recorded.mail
    if recorded.reopened:
        desk.mark_topic(ticket)
        desk.post_to_topic(ticket, _("🔄 Reopened by a new client message."))
    desk.ensure_topic(ticket)
    sender = parsed.from_address or _("unknown sender")
    if parsed.from_name:
        sender = f"{parsed.from_name} <{sender}>"
    lines = [_("✉️ E-mail from {sender}").format(sender=sender)]
    if parsed.subject:
        lines.append(_("Subject: {subject}").format(subject=parsed.subject))
    lines.append(_("Received: {time}").format(time=desk.local(recorded.message.telegram_date)))
    if parsed.error is not None:
        lines.append(
            _("⚠️ The mail could not be read ({error}); its source is attached.").format(
                error=parsed.error
            )
        )
    chunks = text_chunks(parsed.text if parsed.error is None else "")
    first = "\n".join(lines) + ("\n\n" + chunks[0] if chunks[0] else "")
    desk.outbox.send_message(
        desk.support_chat_id,
        first,
        purpose=Purpose.COPY_IN,
        ticket_id=ticket.id,
        to_topic=True,
        message_row_id=recorded.message.id,
    )
    for chunk in chunks[1:]:
        desk.post_to_topic(ticket, chunk)
    for attachment in parsed.attachments:
        if len(attachment.data) > DOCUMENT_LIMIT:
            text = _(
                "📎 {name} is too large for Telegram ({size} bytes); it is kept with the mail."
            )
            desk.post_to_topic(
                ticket, text.format(name=attachment.file_name, size=len(attachment.data))
            )
            continue
        desk.outbox.send_ticket_file(
            desk.support_chat_id, ticket.id, attachment.file_name, attachment.data
        )
    if parsed.error is not None and mail.raw is not None:
        desk.outbox.send_ticket_file(
            desk.support_chat_id, ticket.id, f"mail-{mail.id}.eml", mail.raw
        )
    if recorded.opened:
        hint = _("Write here to answer by e-mail; /note or ! for internal notes.")
        if ticket.customer_id is None:
            hint += "\n" + _(
                "Unknown sender: /link CUSTOMER_ID, and python -m crm contact add "
                "--customer CUSTOMER_ID --email ADDRESS for their next mails."
            )
        desk.post_to_topic(ticket, hint)
