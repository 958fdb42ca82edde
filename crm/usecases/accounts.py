"""A client links their account with an invitation, picks a language, claims credits."""

from __future__ import annotations

from crm.claims import ClaimService
from crm.contacts import ContactService
from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.usecases.notices import (
    AccountLinked,
    ClaimNeedsLink,
    CreditClaimed,
    InvitationInvalid,
    LanguageChanged,
    NoServicesYet,
    Outcome,
    told,
)


async def link_account(contacts: ContactService, client: TelegramUser, token: str) -> Outcome:
    try:
        contact = await contacts.link(client, token)
    except CrmError:
        return told(InvitationInvalid())
    assert contact.customer is not None
    return told(AccountLinked(contact.customer.name))


async def choose_language(contacts: ContactService, client: TelegramUser, locale: str) -> Outcome:
    await contacts.set_language(client, locale)
    return told(LanguageChanged(locale))


async def claim_credit(
    contacts: ContactService, claims: ClaimService, client: TelegramUser, month: str
) -> Outcome:
    """Asks for the month's credit of every service of the client's company (A 5.13 / B 5.9)."""
    contact = await contacts.find(client.id)
    if contact is None or contact.customer_id is None:
        return told(ClaimNeedsLink())
    services = await claims.claim(contact, month)
    if not services:
        return told(NoServicesYet())
    return told(CreditClaimed(month, services))
