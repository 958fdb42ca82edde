"""Real mail servers for the e-mail tests: the Dovecot IMAP server `.ci/run` starts
(`TEST_IMAP_URL`), and an aiosmtpd SMTP server each test starts and reads.

Each test gets its own mailbox: Dovecot's test passdb takes any user name with the test
password, and every user has its own maildir.
"""

from __future__ import annotations

import asyncio
import imaplib
import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiosmtpd.controller import Controller

IMAP_URL_ENV = "TEST_IMAP_URL"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def imap_url() -> str:
    """A fresh, empty mailbox on the test Dovecot server (skipped where none runs)."""
    base = os.environ.get(IMAP_URL_ENV)
    if not base:
        if os.environ.get("REQUIRE_MAIL_SERVERS"):
            pytest.fail(f"{IMAP_URL_ENV} is not set: .ci/run starts Dovecot for these tests")
        pytest.skip(f"{IMAP_URL_ENV} not set (.ci/run starts a Dovecot server)")
    parts = urlsplit(base)
    user = f"t{uuid.uuid4().hex[:12]}"
    netloc = f"{user}:{parts.password}@{parts.hostname}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _login(url: str) -> tuple[imaplib.IMAP4, str]:
    parts = urlsplit(url)
    client = imaplib.IMAP4(parts.hostname or "127.0.0.1", parts.port or 143)
    client.login(parts.username or "", parts.password or "")
    return client, parts.path.lstrip("/") or "INBOX"


def _append(url: str, raw: bytes, arrived: datetime | None) -> None:
    client, mailbox = _login(url)
    try:
        stamp = imaplib.Time2Internaldate(arrived) if arrived else None
        status, answer = client.append(mailbox, None, stamp, raw)
        assert status == "OK", answer
    finally:
        client.logout()


async def deliver(url: str, mail: EmailMessage | bytes, arrived: datetime | None = None) -> None:
    """Puts a mail into the mailbox (IMAP APPEND), as the provider's mail server would,
    with `arrived` as its arrival time (INTERNALDATE)."""
    raw = mail if isinstance(mail, bytes) else mail.as_bytes()
    await asyncio.to_thread(_append, url, raw, arrived)


def _flags(url: str) -> list[str]:
    client, mailbox = _login(url)
    try:
        client.select(mailbox)
        _status, data = client.fetch("1:*", "(FLAGS)")
        return [line.decode() for line in data if isinstance(line, bytes)]
    finally:
        client.logout()


def _unsee(url: str) -> None:
    client, mailbox = _login(url)
    try:
        client.select(mailbox)
        status, answer = client.store("1:*", "-FLAGS", "(\\Seen)")
        assert status == "OK", answer
    finally:
        client.logout()


async def mark_unseen(url: str) -> None:
    """Every mail unread again, as after a crash between recording a mail and flagging it."""
    await asyncio.to_thread(_unsee, url)


async def flags(url: str) -> list[str]:
    return await asyncio.to_thread(_flags, url)


def client_mail(
    text: str,
    *,
    sender: str = "Aigerim Ops <ops@acme.kz>",
    subject: str = "VM does not boot",
    date: datetime | None = None,
    in_reply_to: str | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = "support@desk.example"
    mail["Subject"] = subject
    mail["Message-ID"] = make_msgid(domain="acme.kz")
    if date is not None:
        mail["Date"] = format_datetime(date)
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    mail.set_content(text)
    if attachment is not None:
        name, data = attachment
        mail.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return mail


@dataclass
class SmtpInbox:
    """What the test SMTP server accepted, parsed."""

    host: str
    port: int
    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    refuse: bool = False

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "550 5.1.1 mailbox unavailable"
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.received.append(mail)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[SmtpInbox]:
    """A real SMTP server (aiosmtpd) on loopback, in its own thread."""
    inbox = SmtpInbox("127.0.0.1", _free_port())
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
