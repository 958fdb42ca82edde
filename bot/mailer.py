"""Engineers' answers to e-mail tickets, sent by SMTP from the outbox.

An answer is an outbox row (`Purpose.EMAIL_OUT`, method `sendEmail`) queued with the
engineer's message; the outbox worker hands such rows to this sender as jobs, so no
Telegram send ever sees them. The row is claimed under a lease (nothing stays open during
the SMTP conversation), sent, and its fate recorded in a short transaction: the server's
acceptance time is the message's delivery and, the first time, the ticket's first response.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

import aiosmtplib
import structlog
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.middlewares import ticket_service
from bot.outbox import Job
from bot.settings import BotSettings
from crm.clock import utc_now
from crm.mail import OutgoingMail
from crm.mailbox import Mailbox
from crm.models import OutboxMessage, OutboxStatus, Purpose
from crm.outbox import EMAIL_SEND, Outbox

log = structlog.get_logger()

LEASE = timedelta(minutes=3)
SMTP_TIMEOUT = 60.0
MAX_BACKOFF = 300.0


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    user: str | None
    password: str | None
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if tls else 587),
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )


def is_permanent(error: Exception) -> bool:
    """A 5xx answer (the address refused, the mail rejected): retrying cannot help."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= refusal.code < 600 for refusal in error.recipients)
    code = getattr(error, "code", None)
    return isinstance(code, int) and 500 <= code < 600


class MailSender:
    def __init__(
        self,
        settings: BotSettings,
        sessionmaker: async_sessionmaker[AsyncSession],
        i18n: I18n,
        write_gate: asyncio.Lock | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        assert settings.smtp_url is not None
        self.settings = settings
        self.target = SmtpTarget.from_url(settings.smtp_url.get_secret_value())
        self.sessionmaker = sessionmaker
        self.i18n = i18n
        self.write_gate = write_gate or contextlib.nullcontext()
        self.clock = clock

    def jobs(self) -> dict[str, Job]:
        """What to hand to `OutboxWorker(jobs=...)`."""
        return {EMAIL_SEND: self}

    async def __call__(self, row_id: int) -> None:
        claimed = await self._claim(row_id)
        if claimed is None:
            return
        mail, message_row_id, token = claimed
        try:
            await aiosmtplib.send(
                mail.build(self.clock()),
                hostname=self.target.host,
                port=self.target.port,
                username=self.target.user,
                password=self.target.password,
                use_tls=self.target.tls,
                timeout=SMTP_TIMEOUT,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            await self._failed(row_id, token, message_row_id, error)
            return
        accepted_at = self.clock()
        await self._accepted(row_id, token, message_row_id, accepted_at)
        log.info("mail_sent", row=row_id, to=mail.to, message_id=mail.message_id)

    async def _claim(self, row_id: int) -> tuple[OutgoingMail, int, int] | None:
        async with self.write_gate, self.sessionmaker() as session:
            token = await Outbox(session, self.clock).claim(row_id, self.clock(), LEASE)
            row = await session.get(OutboxMessage, row_id) if token is not None else None
            await session.commit()
        if token is None or row is None or row.message_row_id is None:
            return None
        return OutgoingMail.from_payload(row.payload), row.message_row_id, token

    async def _accepted(
        self, row_id: int, token: int, message_row_id: int, accepted_at: datetime
    ) -> None:
        async with self.write_gate, self.sessionmaker() as session:
            if await Outbox(session, self.clock).complete(row_id, token, accepted_at):
                mailbox = Mailbox(ticket_service(session, self.settings), self.clock)
                await mailbox.accepted(message_row_id, accepted_at)
            await session.commit()

    async def _failed(self, row_id: int, token: int, message_row_id: int, error: Exception) -> None:
        description = f"{type(error).__name__}: {error}"[:2000]
        async with self.write_gate, self.sessionmaker() as session:
            outbox = Outbox(session, self.clock)
            if not is_permanent(error):
                backoff = min(MAX_BACKOFF, 2.0 ** min(token, 10))
                retry_at = self.clock() + timedelta(seconds=backoff)
                await outbox.release(row_id, token, description, retry_at)
                await session.commit()
                log.warning("mail_retry", row=row_id, error=description, retry_in=backoff)
                return
            row = await session.get(OutboxMessage, row_id)
            if row is None or row.status is not OutboxStatus.PENDING or row.attempts != token:
                return
            row.status = OutboxStatus.FAILED
            row.error = description
            tickets = ticket_service(session, self.settings)
            ticket = await Mailbox(tickets, self.clock).failed(message_row_id, description)
            if ticket is not None and ticket.support_chat_id is not None:
                text = self.i18n.gettext(
                    "⚠️ Not delivered to the client: {error}",
                    locale=self.settings.engineer_language,
                ).format(error=description)
                outbox.send_message(
                    ticket.support_chat_id,
                    text,
                    purpose=Purpose.NOTICE,
                    ticket_id=ticket.id,
                    to_topic=True,
                )
            await session.commit()
            log.error("mail_failed", row=row_id, error=description)
