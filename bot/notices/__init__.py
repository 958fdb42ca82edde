"""Words for the notices the use cases return (crm/usecases/notices.py), queued by the Desk.

Each notice has one function saying who reads it and what: the client (in their language),
the engineers (in the ticket's topic, in the group's language) or whoever caused it (a
reply, or the edit of the button they pressed). Functions run in the order of the notices,
so each chat reads them in that order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.types import CallbackQuery
from aiogram.utils.i18n import gettext as _

from bot.desk import Desk, Origin
from bot.notices import accounts, engineers, money, outages, rooms, tickets
from crm.models import Ticket
from crm.usecases import notices as n

Render = Callable[[Any, Desk, Origin], Awaitable[None]]

# Who reads what, notice by notice: one function each, in the module of its subject.
RENDERERS: dict[type, Render] = {
    n.TicketOpened: tickets.opened,
    n.TicketReopened: tickets.reopened,
    n.ClientMessageRecorded: tickets.client_message,
    n.ClientStillWaiting: tickets.still_waiting,
    n.EngineerReplied: tickets.engineer_replied,
    n.RoomAnswered: rooms.room_answered,
    n.TopicOpened: rooms.topic_opened,
    n.TopicNotNeeded: rooms.topic_not_needed,
    n.TicketClosedByClient: tickets.closed,
    n.NoOpenTicket: tickets.no_open_ticket,
    n.TicketTaken: tickets.taken,
    n.TicketResolved: tickets.resolved,
    n.TicketNotOpen: tickets.not_open,
    n.TicketAlreadyOpen: tickets.already_open,
    n.TicketRated: tickets.rated,
    n.RatingRefused: tickets.refused_button,
    n.ServiceRefused: tickets.refused_button,
    n.OfflineTicketOpened: tickets.offline_opened,
    n.UnknownCustomer: tickets.unknown_customer,
    n.CategoryChosen: outages.category_chosen,
    n.WhichServiceIsDown: outages.which_service,
    n.ServiceChosen: outages.service_chosen,
    n.OutageReported: outages.outage_reported,
    n.OutageOpened: outages.outage_opened,
    n.ServiceNotOfCustomer: outages.not_customers,
    n.OutageConfirmed: outages.confirmed,
    n.OutageRejected: outages.rejected,
    n.OutageRestored: outages.restored,
    n.RestoredBeforeStart: outages.before_start,
    n.RestoredInFuture: outages.in_future,
    n.OutageExcluded: outages.excluded,
    n.RestorationTypeSet: outages.restoration,
    n.DataLossRecorded: outages.data_loss,
    n.AccountLinked: accounts.linked,
    n.InvitationInvalid: accounts.invalid_invitation,
    n.LanguageChanged: accounts.language,
    n.CreditClaimed: accounts.claimed,
    n.ClaimNeedsLink: accounts.claim_needs_link,
    n.NoServicesYet: accounts.no_services,
    n.MaintenanceRegistered: accounts.maintenance,
    n.MaintenanceCancelled: accounts.cancelled,
    n.NoSuchMaintenance: accounts.no_maintenance,
    n.NoSuchService: accounts.no_service,
    n.EmergencyDeclared: accounts.emergency_on,
    n.EmergencyEnded: accounts.emergency_off,
    n.NoEmergency: accounts.no_emergency,
    n.MaintenanceAlreadyOver: accounts.already_over,
    n.DownRecorded: outages.down_recorded,
    n.DownServiceChosen: outages.down_service_chosen,
    n.OutageNoticed: outages.outage_noticed,
    n.RestoreRefused: outages.restore_refused,
    n.TicketServiceSet: outages.service_set,
    n.ButtonTicketClosed: tickets.refused_button,
    n.AlreadyRated: tickets.refused_button,
    n.ServiceAlreadyChosen: tickets.refused_button,
    n.NoteKept: tickets.note_kept,
    n.TicketLinked: tickets.linked,
    n.LinkRefused: tickets.link_refused,
    n.ClaimWhichMonth: money.which_month,
    n.ClaimAlreadyMade: money.already_claimed,
    n.CreditClaimTold: money.claim_told,
    n.TrialRequested: money.trial_requested,
    n.TrialNotGranted: money.trial_not_granted,
    n.TrialNeedsLink: money.trial_needs_link,
    n.TrialDecided: money.trial_decided,
    n.TrialAlreadyDecided: money.trial_decided_already,
    n.ClientEdited: tickets.client_edited,
    n.EngineerEdited: tickets.engineer_edited,
    n.AlbumPartRecorded: tickets.album_part,
    n.HandedOff: engineers.handed_off,
    n.UnknownDepartment: engineers.unknown_department,
    n.DepartmentReplied: engineers.department_replied,
    n.OutagesMerged: outages.merged,
    n.MergeRefused: outages.merge_refused,
    n.UnknownSite: outages.unknown_site,
}


# Notices whose words show a ticket's header card even when the ticket has its topic, or
# waits in a room (bot/desk.py `header_text`).
SHOWS_HEADER = (n.TopicOpened, n.TicketLinked, n.HandedOff)


async def tell(desk: Desk, outcome: n.Outcome, origin: Origin) -> None:
    # The header card lists the customer's services: read only for the cards queued here.
    await desk.tickets.load_customer_services(
        ticket
        for notice in outcome.notices
        if isinstance(ticket := getattr(notice, "ticket", None), Ticket)
        and (desk.opens_topic(ticket) or isinstance(notice, SHOWS_HEADER))
    )
    for notice in outcome.notices:
        await RENDERERS[type(notice)](notice, desk, origin)


async def acknowledge(query: CallbackQuery, outcome: n.Outcome | None = None) -> None:
    """Answers a button press: a plain ack, or the refusal as an alert.

    This one call stays inside the update's transaction: Telegram wants the answer within
    seconds, only after the use case is it known whether it is an alert, and the outbox
    keeps to chats (a callback answer has none).
    """
    refusal = outcome.refusal if outcome is not None else None
    if refusal is None:
        await query.answer()
    elif (text := tickets.button_refusal(refusal)) is not None:
        await query.answer(text, show_alert=True)
    elif isinstance(refusal, n.RatingRefused):
        await query.answer(_("Rate with 1 to 5 stars."), show_alert=True)
    else:
        await query.answer(_("This service is not yours."), show_alert=True)
