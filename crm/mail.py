"""Mails as evidence: what a fetched mail says, and the answer the desk sends back.

Pure functions over the standard library's `email` package: a mail is read as leniently
as the package allows, and whatever still cannot be read is reported, never raised, so
the caller records it with its raw source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr, parsedate_to_datetime

# `[#1234]` in a subject names the ticket a mail belongs to.
TICKET_TAG = re.compile(r"\[#(\d{1,12})\]")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Telegram's limit for one text message, with room for the header line.
TEXT_CHUNK = 3500


@dataclass(frozen=True, slots=True)
class Attachment:
    file_name: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class FetchedMail:
    """What the mailbox gave: the source, where it sits and the server's arrival time."""

    raw: bytes
    mailbox: str
    uidvalidity: int
    uid: int
    internal_date: datetime | None
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class ParsedMail:
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    from_address: str | None = None
    from_name: str = ""
    reply_to: str | None = None
    subject: str = ""
    date_header: datetime | None = None
    text: str = ""
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)
    error: str | None = None

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this mail answers: In-Reply-To first, then References newest first."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        return ids + [ref for ref in reversed(self.references) if ref not in ids]

    @property
    def ticket_tag(self) -> int | None:
        found = TICKET_TAG.search(self.subject)
        return int(found.group(1)) if found else None

    @property
    def answer_to(self) -> str | None:
        return self.reply_to or self.from_address


def _ids(value: object) -> list[str]:
    return MESSAGE_ID.findall(str(value or ""))


def _address(value: object) -> str | None:
    pairs = getaddresses([str(value)]) if value else []
    for _name, address in pairs:
        if "@" in address:
            return address.strip().lower()
    return None


def _date(value: object) -> datetime | None:
    try:
        moment = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None  # RFC 5322 "-0000": the zone is unknown, so the time says nothing.
    return moment.astimezone(UTC)


def _body(mail: EmailMessage) -> tuple[str, list[Attachment]]:
    text = ""
    body = mail.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = body.get_content()
        text = content if body.get_content_subtype() == "plain" else _strip_html(content)
    attachments = []
    for number, part in enumerate(mail.iter_attachments(), start=1):
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):
            continue
        name = part.get_filename() or f"attachment-{number}"
        attachments.append(Attachment(name, part.get_content_type(), data))
    return text.strip(), attachments


def _strip_html(html: str) -> str:
    text = re.sub(r"(?is)<(script|style).*?</\1>", "", html)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    return re.sub(r"<[^>]+>", "", text)


def parse_mail(raw: bytes) -> ParsedMail:
    """Reads a mail; a mail that cannot be read comes back with `error` and what was read."""
    try:
        mail = message_from_bytes(raw, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        name, _ = parseaddr(str(mail.get("From", "")))
        headers = ParsedMail(
            message_id=next(iter(_ids(mail.get("Message-ID"))), None),
            in_reply_to=next(iter(_ids(mail.get("In-Reply-To"))), None),
            references=tuple(_ids(mail.get("References"))),
            from_address=_address(mail.get("From")),
            from_name=name,
            reply_to=_address(mail.get("Reply-To")),
            subject=" ".join(str(mail.get("Subject", "")).split()),
            date_header=_date(mail.get("Date")),
        )
    except Exception as error:  # Any header the parser chokes on: recorded, not raised.
        return ParsedMail(error=f"headers: {error!r}"[:2000])
    try:
        text, attachments = _body(mail)
    except Exception as error:
        return _replace(headers, error=f"body: {error!r}"[:2000])
    if headers.from_address is None:
        return _replace(headers, text=text, attachments=tuple(attachments), error="no sender")
    return _replace(headers, text=text, attachments=tuple(attachments))


def _replace(parsed: ParsedMail, **changes: object) -> ParsedMail:
    values = {name: getattr(parsed, name) for name in ParsedMail.__slots__}
    values.update(changes)
    return ParsedMail(**values)


def text_chunks(text: str, size: int = TEXT_CHUNK) -> list[str]:
    """A long mail in Telegram-sized pieces, cut at line ends where possible."""
    chunks: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        cut = cut if cut > size // 2 else size
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*chunks, text] if text or not chunks else chunks


def reply_subject(subject: str | None, ticket_id: int) -> str:
    """`Re: <the client's subject> [#N]`: one Re:, one tag, whatever the thread did."""
    base = TICKET_TAG.sub("", subject or "").strip()
    while re.match(r"(?i)^(re|fwd?|aw)\s*:\s*", base):
        base = re.sub(r"(?i)^(re|fwd?|aw)\s*:\s*", "", base, count=1)
    base = base.strip() or "Support request"
    return f"Re: {base} [#{ticket_id}]"


def new_message_id(mail_from: str) -> str:
    domain = mail_from.rpartition("@")[2].strip(" >") or "support.invalid"
    return make_msgid(domain=domain)


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """An answer as queued in the outbox: everything needed to build the same mail again."""

    mail_from: str
    to: str
    subject: str
    text: str
    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]

    def payload(self) -> dict[str, object]:
        return {
            "from": self.mail_from,
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to,
            "references": list(self.references),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, object]) -> OutgoingMail:
        refs = payload.get("references") or []
        return cls(
            mail_from=str(payload["from"]),
            to=str(payload["to"]),
            subject=str(payload["subject"]),
            text=str(payload["text"]),
            message_id=str(payload["message_id"]),
            in_reply_to=str(payload["in_reply_to"]) if payload.get("in_reply_to") else None,
            references=tuple(str(ref) for ref in refs) if isinstance(refs, list) else (),
        )

    def build(self, date: datetime) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.mail_from
        mail["To"] = self.to
        mail["Subject"] = self.subject
        mail["Date"] = format_datetime(date.astimezone(UTC))
        mail["Message-ID"] = self.message_id
        if self.in_reply_to:
            mail["In-Reply-To"] = self.in_reply_to
        if self.references:
            mail["References"] = " ".join(self.references)
        mail.set_content(self.text)
        return mail
