"""Builders for the use-case tests: clients, their customer, their messages."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from crm.contacts import ContactService
from crm.customers import CustomerService
from crm.dto import IncomingMessage, TelegramUser
from crm.models import ServiceType

CLIENT = TelegramUser(id=700001, full_name="Aigerim", language_code="en")
ENGINEER = TelegramUser(id=500001, full_name="Dana")
NINE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

# Services are active from before the messages, so the month's report covers them.
ACTIVE_SINCE = datetime(2026, 10, 1, tzinfo=UTC)

_message_ids = itertools.count(1)


def said(
    text: str, minutes_after_nine: float = 0, message_id: int | None = None
) -> IncomingMessage:
    """The client's message, `minutes_after_nine` minutes after 09:00 UTC on 2 Nov 2026."""
    return IncomingMessage(
        chat_id=CLIENT.id,
        message_id=message_id or next(_message_ids),
        sender=CLIENT,
        content_type="text",
        telegram_date=NINE + timedelta(minutes=minutes_after_nine),
        text=text,
    )


async def linked_client(session: AsyncSession, services: int) -> None:
    """CLIENT, linked to a customer with that many dedicated servers."""
    crm = CustomerService(session)
    customer = await crm.add_customer("Steppe Cloud LLP")
    for number in range(services):
        await crm.add_service(
            customer.id,
            ServiceType.DEDICATED,
            Decimal("150000"),
            name=f"rack-{number + 1}",
            active_from=ACTIVE_SINCE,
        )
    token = (await crm.create_invitation(customer.id)).token
    await ContactService(session).link(CLIENT, token)
