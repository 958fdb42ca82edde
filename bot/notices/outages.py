"""Words for the ticket's classification and its outage evidence."""

from __future__ import annotations

from datetime import timedelta

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot import keyboards
from bot.desk import Desk, Origin, category_label
from bot.texts import duration
from crm.usecases import notices as n


async def category_chosen(notice: n.CategoryChosen, desk: Desk, origin: Origin) -> None:
    ticket, category = notice.ticket, notice.category
    desk.rename_topic(ticket)
    with desk.client_language(ticket, origin):
        label = category_label(desk.i18n, category, desk.i18n.current_locale)
        text = _("Category: {category}.").format(category=label)
    await desk.tell_client(ticket, text)
    engineers = category_label(desk.i18n, category, desk.settings.engineer_language)
    text = desk.engineer_text("Category chosen by the client: {category}")
    desk.post_to_topic(ticket, text.format(category=engineers))


async def which_service(notice: n.WhichServiceIsDown, desk: Desk, origin: Origin) -> None:
    with desk.client_language(notice.ticket, origin):
        text = _("Which service is down?")
    markup = keyboards.services(notice.ticket.id, notice.services)
    await desk.tell_client(notice.ticket, text, reply_markup=markup)


async def service_chosen(notice: n.ServiceChosen, desk: Desk, origin: Origin) -> None:
    service = notice.service
    desk.reply(origin, _("Noted: {service}. Engineers are on it.").format(service=service.name))
    text = desk.engineer_text("Service chosen by the client: {service_id} «{name}»")
    desk.post_to_topic(notice.ticket, text.format(service_id=service.id, name=service.name))


async def outage_reported(notice: n.OutageReported, desk: Desk, origin: Origin) -> None:
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


async def outage_opened(notice: n.OutageOpened, desk: Desk, origin: Origin) -> None:
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


async def not_customers(notice: n.ServiceNotOfCustomer, desk: Desk, origin: Origin) -> None:
    text = _("Service {service_id} does not belong to this ticket's customer.")
    desk.reply(origin, text.format(service_id=notice.service_id))


async def confirmed(notice: n.OutageConfirmed, desk: Desk, origin: Origin) -> None:
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


async def rejected(notice: n.OutageRejected, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("Outage #{incident} rejected.").format(incident=notice.incident.id))
    with desk.client_language(notice.ticket, origin):
        text = _(
            "We checked: this is not an outage of our service ({reason}). "
            "We keep helping you in this ticket."
        ).format(reason=notice.reason)
    await desk.tell_client(notice.ticket, text)


async def restored(notice: n.OutageRestored, desk: Desk, origin: Origin) -> None:
    incident, time = notice.incident, desk.local(notice.restored_at)
    downtime = timedelta(minutes=notice.downtime_minutes)
    desk.reply(
        origin,
        _(
            "🟢 Outage #{incident} restored at {time} ({zone}); {downtime} from the first evidence."
        ).format(
            incident=incident.id,
            time=time,
            zone=desk.settings.timezone,
            downtime=duration(downtime),
        ),
    )
    with desk.client_language(notice.ticket, origin):
        text = _(
            "{service} is restored ({time}). Recorded downtime: {downtime}, from {start} to {time}."
        ).format(
            service=incident.service.name,
            time=time,
            start=desk.local(notice.start),
            downtime=duration(downtime),
        )
    await desk.tell_client(notice.ticket, text)


async def before_start(notice: n.RestoredBeforeStart, desk: Desk, origin: Origin) -> None:
    text = _("{time} is before the outage started ({start}): not recorded.")
    desk.reply(
        origin, text.format(time=desk.local(notice.restored_at), start=desk.local(notice.start))
    )


async def in_future(notice: n.RestoredInFuture, desk: Desk, origin: Origin) -> None:
    text = _("{time} is in the future: not recorded.")
    desk.reply(origin, text.format(time=desk.local(notice.restored_at)))


async def excluded(notice: n.OutageExcluded, desk: Desk, origin: Origin) -> None:
    text = _("Outage #{incident} marked {exclusion}: its downtime is not counted.")
    desk.reply(origin, text.format(incident=notice.incident.id, exclusion=notice.exclusion.value))


async def restoration(notice: n.RestorationTypeSet, desk: Desk, origin: Origin) -> None:
    text = _("Outage #{incident}: restoration by {kind}, target {target} from confirmation.")
    desk.reply(
        origin,
        text.format(
            incident=notice.incident.id, kind=notice.kind.value, target=duration(notice.target)
        ),
    )


async def data_loss(notice: n.DataLossRecorded, desk: Desk, origin: Origin) -> None:
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


# -- /down told once (issue #14) ------------------------------------------------------------


def _down_line(desk: Desk, ticket_number: int, service: str | None, since: str) -> str:
    zone = desk.settings.timezone
    if service is None:
        text = _("⚡ Ticket #{number}: your outage report is recorded, since {time} ({zone}).")
        return text.format(number=ticket_number, time=since, zone=zone)
    text = _("⚡ Ticket #{number}: recorded that {service} is down since {time} ({zone}).")
    return text.format(number=ticket_number, service=service, time=since, zone=zone)


def _next_line(minutes: int | None) -> str:
    if minutes is None:
        return _("Engineers will check and confirm the outage and reply in this chat.")
    return ngettext(
        "Engineers will check and confirm the outage; "
        "an engineer replies in this chat within {minutes} minute.",
        "Engineers will check and confirm the outage; "
        "an engineer replies in this chat within {minutes} minutes.",
        minutes,
    ).format(minutes=minutes)


async def down_recorded(notice: n.DownRecorded, desk: Desk, origin: Origin) -> None:
    ticket = notice.ticket
    desk.rename_topic(ticket)
    engineers = category_label(desk.i18n, ticket.category, desk.settings.engineer_language)
    text = desk.engineer_text("Category chosen by the client: {category}")
    desk.post_to_topic(ticket, text.format(category=engineers))
    service = notice.service.name if notice.service is not None else None
    with desk.client_language(ticket, origin):
        lines = [_down_line(desk, ticket.id, service, desk.local(notice.notice_at))]
        if ticket.customer is None:
            lines.append(
                _(
                    "Your Telegram account is not linked to a customer yet: engineers will "
                    "link it, or you can open the invitation link your manager sent you."
                )
            )
        lines.append(_next_line(notice.reply_minutes))
        if notice.services:
            lines.append(_("Which service is down?"))
    markup = keyboards.services(ticket.id, notice.services) if notice.services else None
    await desk.tell_client(ticket, "\n\n".join(lines), reply_markup=markup)


async def down_service_chosen(notice: n.DownServiceChosen, desk: Desk, origin: Origin) -> None:
    ticket, service = notice.ticket, notice.service
    with desk.client_language(ticket, origin):
        first = _down_line(desk, ticket.id, service.name, desk.local(notice.notice_at))
        text = first + "\n\n" + _next_line(notice.reply_minutes)
    desk.reply(origin, text)
    engineers = desk.engineer_text("Service chosen by the client: {service_id} «{name}»")
    desk.post_to_topic(ticket, engineers.format(service_id=service.id, name=service.name))


async def outage_evidence(notice: n.OutageEvidence, desk: Desk, origin: Origin) -> None:
    text = desk.engineer_text(
        "⚡ Outage #{incident} of service {service_id} reported by the client at {time}. "
        "/confirm LAYER or /reject REASON"
    )
    incident = notice.incident
    desk.post_to_topic(
        notice.ticket,
        text.format(
            incident=incident.id, service_id=incident.service_id, time=desk.local(notice.notice_at)
        ),
    )
