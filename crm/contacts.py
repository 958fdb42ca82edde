"""Contacts: the Telegram accounts that write to the desk."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.clock import Clock, utc_now
from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.models import (
    Contact,
    ContactEmail,
)
from crm.repositories import ContactRepository, CustomerRepository

# session.info key: Telegram user id -> the contact this session read for that user. Held
# here, not only in the identity map (which keeps objects weakly): a polled batch's session
# then asks once per client, however many middlewares and handlers of its updates ask.
_KNOWN_CONTACTS = "contacts_by_telegram_user"
# session.info key: Telegram user ids a polled batch's `preload` found no contact for.
# `ensure` takes the id out when it creates the contact, so a contact made in this session
# is never missed; and one another instance made since fails our INSERT on its unique id,
# and the update's retry asks the database for it.
_ABSENT_CONTACTS = "telegram_users_without_contact"


class ContactService:
    def __init__(self, session: AsyncSession, clock: Clock = utc_now) -> None:
        self.session = session
        self.clock = clock
        self.contacts = ContactRepository(session)
        self.customers = CustomerRepository(session)

    async def preload(self, telegram_user_ids: Collection[int]) -> None:
        """The contacts of a polled batch's senders in one query, instead of one per update
        (each update's locale and handler then find theirs in this session)."""
        known: dict[int, Contact] = self.session.info.setdefault(_KNOWN_CONTACTS, {})
        wanted = set(telegram_user_ids) - known.keys()
        if not wanted:
            return
        found = await self.session.scalars(
            select(Contact).where(Contact.telegram_user_id.in_(wanted))
        )
        for contact in found.unique():
            known[contact.telegram_user_id] = contact
            wanted.discard(contact.telegram_user_id)
        absent: set[int] = self.session.info.setdefault(_ABSENT_CONTACTS, set())
        absent |= wanted

    async def _by_telegram_id(self, telegram_user_id: int) -> Contact | None:
        """By the user's id; a contact this session read before is not asked for again
        (the locale middleware, the handler and a client writing five times in a batch)."""
        known: dict[int, Contact] = self.session.info.setdefault(_KNOWN_CONTACTS, {})
        contact = known.get(telegram_user_id)
        if contact is not None:
            state = inspect(contact)
            # Changed in a SAVEPOINT rolled back since: expired, so read again below.
            if state.persistent and not state.expired_attributes:
                return contact
        if telegram_user_id in self.session.info.get(_ABSENT_CONTACTS, ()):
            return None
        contact = await self.contacts.by_telegram_id(telegram_user_id)
        if contact is not None:
            # Only rows read from the database: one created by an update whose savepoint is
            # rolled back later must not be remembered.
            known[telegram_user_id] = contact
        return contact

    async def ensure(self, user: TelegramUser, *, flush: bool = True) -> Contact:
        """The contact row of a Telegram user, created on first sight; flushed, not committed.

        `flush=False`: a contact created here is left pending (no id yet), to be written
        with what refers to it in the caller's next flush (a first message's ticket)."""
        contact = await self._by_telegram_id(user.id)
        if contact is None:
            contact = Contact(
                telegram_user_id=user.id,
                full_name=user.full_name,
                username=user.username,
                telegram_language=user.language_code,
                created_at=self.clock(),
            )
            self.session.add(contact)
            # Before the flush: if it fails (another instance wrote this contact first),
            # the update's retry asks the database.
            self.session.info.get(_ABSENT_CONTACTS, set()).discard(user.id)
            if flush:
                await self.session.flush()
        else:
            # Set only what changed: an unchanged contact stays out of the next flush.
            if contact.full_name != user.full_name:
                contact.full_name = user.full_name
            if contact.username != user.username:
                contact.username = user.username
            if contact.telegram_language != user.language_code:
                contact.telegram_language = user.language_code
        return contact

    async def find(self, telegram_user_id: int) -> Contact | None:
        return await self._by_telegram_id(telegram_user_id)

    async def link(self, user: TelegramUser, token: str) -> Contact:
        invitation = await self.customers.invitation(token)
        if invitation is None or invitation.revoked_at is not None:
            raise CrmError("invalid_invitation")
        contact = await self.ensure(user)
        contact.customer_id = invitation.customer_id
        contact.linked_at = self.clock()
        await self.session.flush()
        await self.session.refresh(contact, ["customer"])
        return contact

    async def set_language(self, user: TelegramUser, language: str) -> Contact:
        contact = await self.ensure(user)
        contact.chosen_language = language
        await self.session.flush()
        return contact

    # -- e-mail addresses ---------------------------------------------------------------

    async def add_email(self, customer_id: int, address: str) -> ContactEmail:
        """Ties an address to a customer: its mails open that customer's tickets."""
        normalized = normalize_address(address)
        if normalized is None:
            raise CrmError("bad_email", address=address)
        if await self.customers.get(customer_id) is None:
            raise CrmError("unknown_customer", customer_id=customer_id)
        row = await self.session.scalar(
            select(ContactEmail).where(ContactEmail.address == normalized)
        )
        if row is None:
            row = ContactEmail(address=normalized, customer_id=customer_id, created_at=self.clock())
            self.session.add(row)
        else:
            row.customer_id = customer_id
        await self.session.flush()
        return row

    async def customer_for_email(self, address: str | None) -> int | None:
        normalized = normalize_address(address or "")
        if normalized is None:
            return None
        return await self.session.scalar(
            select(ContactEmail.customer_id).where(ContactEmail.address == normalized)
        )


def normalize_address(address: str) -> str | None:
    """`Name <User@Example.COM>` or a bare address → `user@example.com`; None if not one."""
    address = address.strip()
    if "<" in address and address.endswith(">"):
        address = address[address.rindex("<") + 1 : -1]
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in address):
        return None
    return f"{local}@{domain}".lower()
