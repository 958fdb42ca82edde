"""A client links their account with an invitation, picks a language, claims credits."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from crm.claims import ClaimService
from crm.contacts import ContactService
from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.usecases.notices import (
    AccountLinked,
    ClaimAlreadyMade,
    ClaimNeedsLink,
    ClaimWhichMonth,
    CreditClaimed,
    CreditClaimTold,
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


async def claim_months(
    contacts: ContactService, claims: ClaimService, client: TelegramUser, zone: ZoneInfo
) -> Outcome:
    """`/claim` without a month: which month? The months with an outage on record."""
    contact = await contacts.find(client.id)
    if contact is None or contact.customer_id is None:
        return told(ClaimNeedsLink())
    return told(ClaimWhichMonth(await claims.months_with_outages(contact.customer_id, zone)))


async def claim_credit(
    contacts: ContactService,
    claims: ClaimService,
    client: TelegramUser,
    month: str,
    zone: ZoneInfo,
    at: datetime | None = None,
) -> Outcome:
    """Asks for the month's credit of every service of the client's company that was
    active in it (A 5.13 / B 5.9); a month claimed already is refused with its date."""
    contact = await contacts.find(client.id)
    if contact is None or contact.customer_id is None or contact.customer is None:
        return told(ClaimNeedsLink())
    result = await claims.claim(contact, month, zone, at)
    if not result.services:
        return told(NoServicesYet())
    if not result.claimed:
        assert result.earlier is not None
        return told(ClaimAlreadyMade(month, result.earlier))
    return told(
        CreditClaimed(month, result.claimed),
        CreditClaimTold(contact.customer.name, month, result.claimed),
    )
