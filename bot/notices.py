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

from bot import keyboards
from bot.desk import Desk, Origin, category_label
from bot.i18n import pick_locale
from bot.texts import duration, help_text, offline_usage
from crm.models import Purpose
from crm.usecases import notices as n

Render = Callable[[Any, Desk, Origin], Awaitable[None]]
RENDERERS: dict[type, Render] = {}


def renders(kind: type) -> Callable[[Render], Render]:
    def register(render: Render) -> Render:
        RENDERERS[kind] = render
        return render

    return register


async def tell(desk: Desk, outcome: n.Outcome, origin: Origin) -> None:
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
    elif isinstance(refusal, n.RatingRefused):
        await query.answer(_("Rate with 1 to 5 stars."), show_alert=True)
    else:
        await query.answer(_("This service is not yours."), show_alert=True)


# -- tickets and messages -------------------------------------------------------------------


@renders(n.TicketOpened)
async def _opened(notice: n.TicketOpened, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    with desk.client_language(ticket, origin):
        text = _(
            "Ticket #{number} is open. An engineer replies within {minutes} minutes. "
            "What is it about?"
        ).format(number=ticket.id, minutes=f"{notice.target_minutes:g}")
        markup = keyboards.categories(ticket.id, desk.i18n)
    await desk.tell_client(ticket, text, reply_markup=markup)


@renders(n.TicketReopened)
async def _reopened(notice: n.TicketReopened, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    if notice.by == "engineer":
        desk.reply(origin, _("🔄 #{number} reopened.").format(number=ticket.id))
    with desk.client_language(ticket, origin):
        text = _("Ticket #{number} is open again.").format(number=ticket.id)
    await desk.tell_client(ticket, text)
    if notice.by == "client":
        desk.post_to_topic(ticket, desk.engineer_text("🔄 Reopened by a new client message."))


@renders(n.ClientMessageRecorded)
async def _client_message(notice: n.ClientMessageRecorded, desk: Desk, origin: Origin) -> None:
    desk.forward_client_message(notice.ticket, notice.message)


@renders(n.ClientStillWaiting)
async def _still_waiting(notice: n.ClientStillWaiting, desk: Desk, origin: Origin) -> None:
    text = desk.engineer_text("⏳ The client wrote again, waiting {minutes} min.")
    desk.post_to_topic(notice.ticket, text.format(minutes=f"{notice.waited_minutes:.0f}"))


@renders(n.EngineerReplied)
async def _engineer_replied(notice: n.EngineerReplied, desk: Desk, origin: Origin) -> None:
    desk.deliver_to_client(notice.ticket, notice.message)


@renders(n.TicketClosedByClient)
async def _closed(notice: n.TicketClosedByClient, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("Ticket #{number} is closed. Thank you!").format(number=notice.ticket.id))
    desk.post_to_topic(notice.ticket, desk.engineer_text("🔒 The client closed the ticket."))


@renders(n.NoOpenTicket)
async def _no_open_ticket(notice: n.NoOpenTicket, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("You have no open ticket."))


@renders(n.TicketTaken)
async def _taken(notice: n.TicketTaken, desk: Desk, origin: Origin) -> None:
    text = _("👤 #{number} taken by {name}.")
    desk.reply(origin, text.format(number=notice.ticket.id, name=notice.engineer_name))


@renders(n.TicketResolved)
async def _resolved(notice: n.TicketResolved, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    desk.reply(origin, _("✅ #{number} resolved.").format(number=ticket.id))
    with desk.client_language(ticket, origin):
        text = _("Ticket #{number} is resolved. How did we do? Rate from 1 to 5.").format(
            number=ticket.id
        )
    await desk.tell_client(ticket, text, reply_markup=keyboards.rating(ticket.id))


@renders(n.TicketNotOpen)
async def _not_open(notice: n.TicketNotOpen, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("#{number} is not open.").format(number=notice.ticket.id))


@renders(n.TicketAlreadyOpen)
async def _already_open(notice: n.TicketAlreadyOpen, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("#{number} is already open.").format(number=notice.ticket.id))


@renders(n.TicketRated)
async def _rated(notice: n.TicketRated, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("Thank you for your rating!"))
    text = desk.engineer_text("The client rated the ticket: {stars}/5")
    desk.post_to_topic(notice.ticket, text.format(stars=notice.stars))


@renders(n.RatingRefused)
@renders(n.ServiceRefused)
async def _refused_button(notice: n.Notice, desk: Desk, origin: Origin) -> None:
    """Told as the button's alert (see acknowledge)."""


@renders(n.OfflineTicketOpened)
async def _offline_opened(notice: n.OfflineTicketOpened, desk: Desk, origin: Origin) -> None:
    ticket = desk.ensure_topic(notice.ticket)
    desk.post_to_topic(ticket, notice.text)
    desk.reply(
        origin,
        _("#{number} opened for {customer}, received at {time}.").format(
            number=ticket.id,
            customer=ticket.customer.name if ticket.customer else "?",
            time=desk.local(notice.stated_at),
        ),
    )


@renders(n.UnknownCustomer)
async def _unknown_customer(notice: n.UnknownCustomer, desk: Desk, origin: Origin) -> None:
    text = _("There is no customer with id {customer_id}.").format(customer_id=notice.customer_id)
    desk.reply(origin, text + "\n" + offline_usage(notice.channel.value))


# -- classification and outages ---------------------------------------------------------------


@renders(n.CategoryChosen)
async def _category(notice: n.CategoryChosen, desk: Desk, origin: Origin) -> None:
    ticket, category = notice.ticket, notice.category
    desk.rename_topic(ticket)
    with desk.client_language(ticket, origin):
        label = category_label(desk.i18n, category, desk.i18n.current_locale)
        text = _("Category: {category}.").format(category=label)
    await desk.tell_client(ticket, text)
    engineers = category_label(desk.i18n, category, desk.settings.engineer_language)
    text = desk.engineer_text("Category chosen by the client: {category}")
    desk.post_to_topic(ticket, text.format(category=engineers))


@renders(n.WhichServiceIsDown)
async def _which_service(notice: n.WhichServiceIsDown, desk: Desk, origin: Origin) -> None:
    with desk.client_language(notice.ticket, origin):
        text = _("Which service is down?")
    markup = keyboards.services(notice.ticket.id, notice.services)
    await desk.tell_client(notice.ticket, text, reply_markup=markup)


@renders(n.ServiceChosen)
async def _service(notice: n.ServiceChosen, desk: Desk, origin: Origin) -> None:
    service = notice.service
    desk.reply(origin, _("Noted: {service}. Engineers are on it.").format(service=service.name))
    text = desk.engineer_text("Service chosen by the client: {service_id} «{name}»")
    desk.post_to_topic(notice.ticket, text.format(service_id=service.id, name=service.name))


@renders(n.OutageReported)
async def _outage_reported(notice: n.OutageReported, desk: Desk, origin: Origin) -> None:
    ticket, incident, time = notice.ticket, notice.incident, desk.local(notice.notice_at)
    with desk.client_language(ticket, origin):
        text = _("Outage of {service} recorded at {time}. Engineers are checking it.").format(
            service=incident.service.name, time=time
        )
    await desk.tell_client(ticket, text)
    text = desk.engineer_text(
        "⚡ Outage #{incident} of service {service_id} reported by the client at {time}. "
        "/confirm LAYER or /reject REASON"
    )
    desk.post_to_topic(
        ticket, text.format(incident=incident.id, service_id=incident.service_id, time=time)
    )


@renders(n.OutageOpened)
async def _outage_opened(notice: n.OutageOpened, desk: Desk, origin: Origin) -> None:
    incident = notice.incident
    if notice.created:
        text = _(
            "⚡ Outage #{incident} of service {service_id} opened; start evidence {time}."
        ).format(
            incident=incident.id, service_id=incident.service_id, time=desk.local(notice.start)
        )
    else:
        text = _("This ticket already has outage #{incident} for that service.").format(
            incident=incident.id
        )
    desk.reply(origin, text)


@renders(n.ServiceNotOfCustomer)
async def _not_customers(notice: n.ServiceNotOfCustomer, desk: Desk, origin: Origin) -> None:
    text = _("Service {service_id} does not belong to this ticket's customer.")
    desk.reply(origin, text.format(service_id=notice.service_id))


@renders(n.OutageConfirmed)
async def _confirmed(notice: n.OutageConfirmed, desk: Desk, origin: Origin) -> None:
    incident = notice.incident
    desk.reply(
        origin,
        _("✅ Outage #{incident} confirmed, layer {layer}.").format(
            incident=incident.id, layer=notice.layer.value
        ),
    )
    with desk.client_language(notice.ticket, origin):
        text = _("We confirm the outage of {service}. Our engineers are restoring it.").format(
            service=incident.service.name
        )
    await desk.tell_client(notice.ticket, text)


@renders(n.OutageRejected)
async def _rejected(notice: n.OutageRejected, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("Outage #{incident} rejected.").format(incident=notice.incident.id))
    with desk.client_language(notice.ticket, origin):
        text = _(
            "We checked: this is not an outage of our service ({reason}). "
            "We keep helping you in this ticket."
        ).format(reason=notice.reason)
    await desk.tell_client(notice.ticket, text)


@renders(n.OutageRestored)
async def _restored(notice: n.OutageRestored, desk: Desk, origin: Origin) -> None:
    incident, time = notice.incident, desk.local(notice.restored_at)
    minutes = f"{notice.downtime_minutes:.0f}"
    desk.reply(
        origin,
        _(
            "🟢 Outage #{incident} restored at {time}; {minutes} min from the first evidence."
        ).format(incident=incident.id, time=time, minutes=minutes),
    )
    with desk.client_language(notice.ticket, origin):
        text = _(
            "{service} is restored ({time}). Recorded downtime: {minutes} min, "
            "from {start} to {time}."
        ).format(
            service=incident.service.name,
            time=time,
            start=desk.local(notice.start),
            minutes=minutes,
        )
    await desk.tell_client(notice.ticket, text)


@renders(n.RestoredBeforeStart)
async def _before_start(notice: n.RestoredBeforeStart, desk: Desk, origin: Origin) -> None:
    text = _("{time} is before the outage started ({start}): not recorded.")
    desk.reply(
        origin, text.format(time=desk.local(notice.restored_at), start=desk.local(notice.start))
    )


@renders(n.RestoredInFuture)
async def _in_future(notice: n.RestoredInFuture, desk: Desk, origin: Origin) -> None:
    text = _("{time} is in the future: not recorded.")
    desk.reply(origin, text.format(time=desk.local(notice.restored_at)))


@renders(n.OutageExcluded)
async def _excluded(notice: n.OutageExcluded, desk: Desk, origin: Origin) -> None:
    text = _("Outage #{incident} marked {exclusion}: its downtime is not counted.")
    desk.reply(origin, text.format(incident=notice.incident.id, exclusion=notice.exclusion.value))


@renders(n.RestorationTypeSet)
async def _restoration(notice: n.RestorationTypeSet, desk: Desk, origin: Origin) -> None:
    text = _("Outage #{incident}: restoration by {kind}, target {target} from confirmation.")
    desk.reply(
        origin,
        text.format(
            incident=notice.incident.id, kind=notice.kind.value, target=duration(notice.target)
        ),
    )


@renders(n.DataLossRecorded)
async def _data_loss(notice: n.DataLossRecorded, desk: Desk, origin: Origin) -> None:
    desk.reply(
        origin,
        _(
            "Outage #{incident}: client data lost or damaged through our fault "
            "(credit: half the month's fee)."
        ).format(incident=notice.incident.id),
    )
    with desk.client_language(notice.ticket, origin):
        text = _(
            "We have recorded that your data was lost or damaged through our fault. "
            "A credit of half this month's fee applies; ask for it with /claim."
        )
    await desk.tell_client(notice.ticket, text)


# -- accounts, credits, managers ----------------------------------------------------------------


@renders(n.AccountLinked)
async def _linked(notice: n.AccountLinked, desk: Desk, origin: Origin) -> None:
    name = origin.from_user.first_name if origin.from_user else ""
    text = _("Hello, {name}! Your account is now linked to {customer}.").format(
        name=name, customer=notice.customer_name
    )
    desk.reply(origin, text + "\n\n" + help_text())


@renders(n.InvitationInvalid)
async def _invalid_invitation(notice: n.InvitationInvalid, desk: Desk, origin: Origin) -> None:
    text = _("This invitation link is not valid any more. Ask your manager for a new one.")
    desk.reply(origin, text + "\n\n" + help_text())


@renders(n.LanguageChanged)
async def _language(notice: n.LanguageChanged, desk: Desk, origin: Origin) -> None:
    with desk.i18n.use_locale(notice.locale):
        desk.reply(origin, _("Language changed."))


@renders(n.CreditClaimed)
async def _claimed(notice: n.CreditClaimed, desk: Desk, origin: Origin) -> None:
    text = _(
        "Your request for the service credits of {month} is recorded for: {services}. "
        "Credits are applied as a discount (terms A 5.13 / B 5.9)."
    )
    services = ", ".join(s.name for s in notice.services)
    desk.reply(origin, text.format(month=notice.month, services=services))


@renders(n.ClaimNeedsLink)
async def _claim_needs_link(notice: n.ClaimNeedsLink, desk: Desk, origin: Origin) -> None:
    desk.reply(
        origin,
        _("Credits are for linked customers: open the invitation link from your manager first."),
    )


@renders(n.NoServicesYet)
async def _no_services(notice: n.NoServicesYet, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("Your company has no services registered yet."))


@renders(n.MaintenanceRegistered)
async def _maintenance(notice: n.MaintenanceRegistered, desk: Desk, origin: Origin) -> None:
    window = notice.window
    for contact in notice.contacts:
        locale = pick_locale(contact.chosen_language, contact.telegram_language)
        with desk.i18n.use_locale(locale):
            text = _("Planned maintenance from {start} to {end} ({zone}): {text}").format(
                start=desk.local(window.starts_at),
                end=desk.local(window.ends_at),
                zone=desk.settings.timezone,
                text=window.description,
            )
        desk.send_to(contact.telegram_user_id, text, purpose=Purpose.MAINTENANCE)
    text = _("Maintenance #{id} registered; {count} clients will be notified.")
    desk.reply(origin, text.format(id=window.id, count=len(notice.contacts)))


@renders(n.MaintenanceCancelled)
async def _cancelled(notice: n.MaintenanceCancelled, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("Maintenance #{id} cancelled.").format(id=notice.window.id))


@renders(n.NoSuchMaintenance)
async def _no_maintenance(notice: n.NoSuchMaintenance, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("There is no maintenance #{id}.").format(id=notice.window_id))


@renders(n.NoSuchService)
async def _no_service(notice: n.NoSuchService, desk: Desk, origin: Origin) -> None:
    text = _("There is no service {service_id}.")
    desk.reply(origin, text.format(service_id=notice.service_id))


@renders(n.EmergencyDeclared)
async def _emergency_on(notice: n.EmergencyDeclared, desk: Desk, origin: Origin) -> None:
    text = _("🚨 Emergency declared: new tickets get the emergency target of {minutes} min.")
    desk.reply(origin, text.format(minutes=f"{notice.target_minutes:g}"))


@renders(n.EmergencyEnded)
async def _emergency_off(notice: n.EmergencyEnded, desk: Desk, origin: Origin) -> None:
    text = _("Emergency ended: new tickets are back to {minutes} min.")
    desk.reply(origin, text.format(minutes=f"{notice.normal_minutes:g}"))


@renders(n.NoEmergency)
async def _no_emergency(notice: n.NoEmergency, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("There is no emergency declared."))
