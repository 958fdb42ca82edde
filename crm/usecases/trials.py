"""Object-storage trials (terms B 3): a client's request, a manager's decision."""

from __future__ import annotations

from crm.contacts import ContactService
from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.models import Customer
from crm.trials import TrialService
from crm.usecases.notices import (
    Outcome,
    TrialAlreadyDecided,
    TrialDecided,
    TrialNeedsLink,
    TrialNotGranted,
    TrialRequested,
    told,
)


async def request_trial(
    contacts: ContactService, trials: TrialService, client: TelegramUser
) -> Outcome:
    """The managers get the request with buttons, unless B 3 rules it out (one trial,
    never after object storage), which the client hears with the date."""
    contact = await contacts.find(client.id)
    if contact is None or contact.customer_id is None or contact.customer is None:
        return told(TrialNeedsLink())
    try:
        request = await trials.request(contact)
    except CrmError as error:
        return told(TrialNotGranted(error.code, error.params.get("since")))
    return told(TrialRequested(request, contact.customer.name, contact))


async def decide_trial(
    trials: TrialService, request_id: int, approve: bool, manager: TelegramUser
) -> Outcome:
    """A manager's button: approved or refused once; the client is told."""
    try:
        request = await trials.decide(request_id, approve, f"telegram:{manager.id}")
    except CrmError as error:
        return told(
            TrialAlreadyDecided(str(error.params.get("status", "")), error.params.get("at"))
        )
    customer = await trials.session.get(Customer, request.customer_id)
    contacts = await trials.contacts_of(request.customer_id)
    name = customer.name if customer else ""
    return told(TrialDecided(request, name, contacts, manager.full_name))
