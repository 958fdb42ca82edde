"""A request received by phone or e-mail, logged by the engineer who took it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.models import Channel
from crm.tickets import TicketService
from crm.usecases.notices import OfflineTicketOpened, Outcome, UnknownCustomer, told


@dataclass(frozen=True, slots=True)
class OfflineRequest:
    channel: Channel
    customer_id: int
    stated_at: datetime  # when the client called or wrote, as the engineer states it
    text: str
    engineer: TelegramUser
    logged_at: datetime


async def log_offline_request(tickets: TicketService, request: OfflineRequest) -> Outcome:
    try:
        ticket = await tickets.open_offline_ticket(
            channel=request.channel,
            customer_id=request.customer_id,
            stated_at=request.stated_at,
            text=request.text,
            engineer=request.engineer,
            logged_at=request.logged_at,
        )
    except CrmError:
        return told(UnknownCustomer(request.customer_id, request.channel))
    return told(OfflineTicketOpened(ticket, request.text, request.stated_at), ticket=ticket)
