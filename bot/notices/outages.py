"""Words for the ticket's classification and its outage evidence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from aiogram.types import Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot import keyboards
from bot.desk import Desk, Origin, category_label, in_room
from bot.texts import duration
from crm.models import Incident
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


def room_card(desk: Desk, notice: n.OutageNoticed) -> str:
    """The room's first message: what is down, whose, the evidence so far, what to do."""
    incident, t = notice.incident, desk.engineer_text
    service = incident.service
    lines = [
        t("⚡ Outage #{incident}: service {service_id} «{name}» ({kind}) of {customer}").format(
            incident=incident.id,
            service_id=service.id,
            name=service.name,
            kind=service.service_type.value,
            customer=service.customer.name,
        ),
        t("First evidence: {source} at {time} ({zone}).").format(
            source=_source(desk, notice.source),
            time=desk.local(notice.notice_at),
            zone=desk.settings.timezone,
        ),
    ]
    if not service.in_provider_dc:
        lines.append(t("Outside the provider DC: no SLA credit (A 5.4)."))
    lines.append(
        t(
            "Every report of this outage gathers here. Commands here act on it: "
            "/confirm LAYER, /reject REASON, /restored [TIME], /exclude KIND, "
            "/restoration reboot|repair, /dataloss."
        )
    )
    return "\n".join(lines)


def _source(desk: Desk, source: str) -> str:
    labels = {
        "client": desk.engineer_text("a client's message"),
        "phone": desk.engineer_text("a logged call or mail"),
        "engineer": desk.engineer_text("an engineer's /outage"),
        "monitoring": desk.engineer_text("monitoring"),
    }
    return labels.get(source, source)


async def outage_noticed(notice: n.OutageNoticed, desk: Desk, origin: Origin) -> None:
    """The room opens with the first report in its card, or hears of one more; the
    reporting ticket's topic names the room. Few messages: the group's budget is 20 a
    minute for every topic together."""
    incident, ticket, t = notice.incident, notice.ticket, desk.engineer_text
    room = incident.outage_id or incident.id
    gathered = ticket is not None and in_room(ticket) == room
    if gathered and not notice.opened:
        return  # A gathered report: its own words are its line in the room.
    line = None
    if ticket is not None:
        line = t("📣 {who} (ticket #{number}) reported it at {time}.").format(
            who=notice.who or t("the client"),
            number=ticket.id,
            time=desk.local(notice.notice_at),
        )
        if notice.text and not notice.text.startswith("/"):
            line += "\n" + notice.text[:1000]
    if notice.members:
        desk.outage_grew(incident.lead or incident, notice.members, [incident])
    if notice.opened:
        card = room_card(desk, notice)
        desk.open_room(incident, card if line is None else f"{card}\n\n{line}")
    elif line is not None:
        desk.post_to_room(incident, line)
    if ticket is not None and not gathered:
        text = t(
            "⚡ This report is part of outage #{incident} of service {service_id} «{name}»: "
            "its room is the topic «{room}». /confirm LAYER or /reject REASON work here too."
        )
        desk.post_to_topic(
            ticket,
            text.format(
                incident=incident.id,
                service_id=incident.service_id,
                name=incident.service.name,
                room=desk.room_name(incident, notice.members),
            ),
        )


async def outage_opened(notice: n.OutageOpened, desk: Desk, origin: Origin) -> None:
    incident = notice.incident
    sources = {
        "stated": _("the time you stated"),
        "replied": _("the message you replied to"),
        "last_message": _("the client's last message; reply to the reporting message "
                          "or add its time to use another"),
    }  # fmt: skip
    if notice.created:
        text = _(
            "⚡ Outage #{incident} of service {service_id} opened; notice at {time} ({source})."
        )
    else:
        text = _(
            "Joined the running outage #{incident} of service {service_id}; "
            "notice at {time} ({source})."
        )
    desk.reply(
        origin,
        text.format(
            incident=incident.id,
            service_id=incident.service_id,
            time=desk.local(notice.notice_at),
            source=sources[notice.notice_from],
        ),
    )


async def not_customers(notice: n.ServiceNotOfCustomer, desk: Desk, origin: Origin) -> None:
    text = _("Service {service_id} does not belong to this ticket's customer.")
    desk.reply(origin, text.format(service_id=notice.service_id))


def _counting_line(desk: Desk, incident: Incident, counting: n.Counting) -> str:
    """What the SLA engine will count, in the reader's language (a client's, here)."""
    if counting.counted:
        return _("It counts as downtime from {start}.").format(start=desk.local(counting.start))
    reasons = {
        "awaiting_confirmation": _("It is not counted as downtime until we confirm it."),
        "customer_layer": _(
            "The failure is in the {layer} layer, which is on the customer's side under the "
            "terms (A 4.1 / B 4.1), so it is not counted as our downtime."
        ).format(layer=incident.layer.value if incident.layer else "—"),
        "excluded": _("It is marked {kind}, so it is not compensated under the terms.").format(
            kind=incident.exclusion.value if incident.exclusion else "—"
        ),
        "no_sla": _("This environment is outside our data centre: no SLA credit applies (A 5.4)."),
        "trial": _("It happened during the free trial, which earns no credit (B 3)."),
        "rejected": _("It is not counted as downtime."),
        "no_evidence": _("It is not counted as downtime."),
    }
    return reasons.get(counting.reason or "", _("It is not counted as downtime."))


def _to_room(desk: Desk, origin: Origin, incident: Incident, text: str) -> None:
    """The answer where the command was given, and the room hears it when that was elsewhere."""
    desk.reply(origin, text)
    thread = origin.message_thread_id if isinstance(origin, Message) else None
    room = incident.lead or incident  # a member of an outage posts in its lead's room
    if room.room_thread_id is None or thread != room.room_thread_id:
        desk.post_to_room(incident, text)


async def confirmed(notice: n.OutageConfirmed, desk: Desk, origin: Origin) -> None:
    incident = notice.incident
    text = _("✅ Outage #{incident} confirmed, layer {layer}.").format(
        incident=incident.id, layer=notice.layer.value
    )
    _to_room(desk, origin, incident, text)
    for ticket in notice.tickets:
        with desk.client_language(ticket, origin):
            lines = [
                _("We confirm the outage of {service}.").format(service=incident.service.name),
                _counting_line(desk, incident, notice.counting),
            ]
        await desk.tell_client(ticket, " ".join(lines))


async def rejected(notice: n.OutageRejected, desk: Desk, origin: Origin) -> None:
    text = _("Outage #{incident} rejected.").format(incident=notice.incident.id)
    _to_room(desk, origin, notice.incident, text)
    for ticket in notice.tickets:
        with desk.client_language(ticket, origin):
            text = _(
                "We checked: this is not an outage of our service ({reason}), so it is not "
                "counted as downtime. We keep helping you in this ticket."
            ).format(reason=notice.reason)
        await desk.tell_client(ticket, text)


async def restored(notice: n.OutageRestored, desk: Desk, origin: Origin) -> None:
    incident, time, counting = notice.incident, desk.local(notice.restored_at), notice.counting
    if notice.corrected_from is not None:
        text = _("🟢 Outage #{incident}: restoration corrected from {previous} to {time}.").format(
            incident=incident.id, previous=desk.local(notice.corrected_from), time=time
        )
    else:
        text = _(
            "🟢 Outage #{incident} restored at {time} ({zone}); {downtime} from the first evidence."
        )
        span = notice.restored_at - notice.start if notice.start is not None else timedelta()
        text = text.format(
            incident=incident.id, time=time, zone=desk.settings.timezone, downtime=duration(span)
        )
        if not counting.counted:
            text += " " + _("Not counted: {reason}.").format(reason=counting.reason)
    _to_room(desk, origin, incident, text)
    for ticket in notice.tickets:
        with desk.client_language(ticket, origin):
            if counting.counted:
                text = _(
                    "{service} is restored ({time}). Counted downtime: {downtime}, "
                    "from {start} to {time}."
                ).format(
                    service=incident.service.name,
                    time=time,
                    start=desk.local(counting.start),
                    downtime=duration(counting.downtime),
                )
            else:
                text = _("{service} is working again ({time}).").format(
                    service=incident.service.name, time=time
                )
                text += " " + _counting_line(desk, incident, counting)
        await desk.tell_client(ticket, text)


async def restore_refused(notice: n.RestoreRefused, desk: Desk, origin: Origin) -> None:
    incident = notice.incident
    if notice.reason == "already_restored":
        text = _(
            "Outage #{incident} is already restored at {time}: not changed. To correct it, "
            "write /correct TIME REASON, e.g. /correct 14:05 the monitoring graph shows 14:05."
        ).format(incident=incident.id, time=desk.local(notice.restored_at))
    elif notice.reason == "restore_rejected":
        text = _(
            "Outage #{incident} was rejected ({reason}): there is nothing to restore. "
            "If it was an outage after all, /confirm LAYER first."
        ).format(incident=incident.id, reason=notice.rejected_reason or "—")
    else:
        text = _("Outage #{incident} is not restored yet: use /restored [TIME].").format(
            incident=incident.id
        )
    desk.reply(origin, text)


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
    text = text.format(incident=notice.incident.id, exclusion=notice.exclusion.value)
    _to_room(desk, origin, notice.incident, text)


async def restoration(notice: n.RestorationTypeSet, desk: Desk, origin: Origin) -> None:
    text = _("Outage #{incident}: restoration by {kind}, target {target} from confirmation.")
    text = text.format(
        incident=notice.incident.id, kind=notice.kind.value, target=duration(notice.target)
    )
    _to_room(desk, origin, notice.incident, text)


async def data_loss(notice: n.DataLossRecorded, desk: Desk, origin: Origin) -> None:
    incident = notice.incident
    if notice.credit_reason is None:
        text = _(
            "Outage #{incident}: client data lost or damaged through our fault "
            "(credit: half the month's fee)."
        ).format(incident=incident.id)
    else:
        text = _(
            "Outage #{incident}: data loss recorded; no credit as things stand ({reason})."
        ).format(incident=incident.id, reason=notice.credit_reason)
    _to_room(desk, origin, incident, text)
    for ticket in notice.tickets:
        with desk.client_language(ticket, origin):
            text = _("We have recorded that your data was lost or damaged.")
            if notice.credit_reason is None:
                text += " " + _(
                    "It happened through our fault: a credit of half this month's fee "
                    "applies; ask for it with /claim."
                )
            elif notice.credit_reason == "not_confirmed":
                text += " " + _(
                    "A credit applies only if we confirm a failure on our side; we will tell you."
                )
            else:
                text += " " + _counting_line(desk, incident, _NOT_COUNTED[notice.credit_reason])
        await desk.tell_client(ticket, text)


_NOT_COUNTED = {
    reason: n.Counting(False, reason, None, None, timedelta())
    for reason in ("customer_layer", "excluded", "no_sla", "trial")
}


async def service_set(notice: n.TicketServiceSet, desk: Desk, origin: Origin) -> None:
    service = notice.service
    text = _("#{number} is about service {service_id} «{name}» ({kind}) now.").format(
        number=notice.ticket.id, service_id=service.id, name=service.name,
        kind=service.service_type.value,
    )  # fmt: skip
    desk.reply(origin, text)


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
    if in_room(ticket) is None:
        # (A report gathered in a room says what it is by being there.)
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


# -- outages of several services (issue 10) ------------------------------------------------


def _listed(incidents: Sequence[Incident]) -> str:
    return ", ".join(f"#{i.id} {i.service.name} ({i.service.customer.name})" for i in incidents)


async def merged(notice: n.OutagesMerged, desk: Desk, origin: Origin) -> None:
    """The outage's room hears what it covers now; a gathered incident's own room is told
    where its outage went (its last line)."""
    lead = notice.lead
    lines = []
    if notice.site is not None:
        lines.append(
            _("Site {site}: new reports of its services join outage #{lead} while it runs.")
            .format(site=notice.site, lead=lead.id)
        )  # fmt: skip
    if notice.joined:
        lines.append(
            _("🔗 Outage #{lead} now gathers: {joined}.").format(
                lead=lead.id, joined=_listed(notice.joined)
            )
        )
    else:
        lines.append(_("Nothing new to gather into outage #{lead}.").format(lead=lead.id))
    lines.append(
        _(
            "It covers {count} services: {members}. Commands in its room act on all of "
            "them; each keeps its own downtime."
        ).format(count=len(notice.members), members=_listed(notice.members))
    )
    _to_room(desk, origin, lead, "\n".join(lines))
    desk.outage_grew(lead, notice.members, notice.joined)
    room = desk.room_name(lead, notice.members)
    for member in notice.rooms:
        text = desk.engineer_text("Merged into Outage #{lead}: its room is «{room}».")
        desk.post_to_room(member, text.format(lead=lead.id, room=room), own_room=True)


async def merge_refused(notice: n.MergeRefused, desk: Desk, origin: Origin) -> None:
    number = notice.incident_id
    if notice.reason == "unknown":
        text = _("There is no outage #{incident}: nothing merged.")
    elif notice.reason == "itself":
        text = _("Outage #{incident} is already this outage: nothing merged.")
    elif notice.target:
        reasons = {
            "rejected": _("Outage #{incident} was rejected: nothing can join it."),
            "excluded": _("Outage #{incident} is excluded: nothing can join it."),
        }
        text = reasons.get(notice.reason, _("Outage #{incident} is over: nothing can join it."))
    else:
        reasons = {
            "rejected": _("Outage #{incident} was rejected: it cannot be merged; nothing merged."),
            "excluded": _("Outage #{incident} is excluded: it cannot be merged; nothing merged."),
        }
        text = reasons.get(
            notice.reason, _("Outage #{incident} is over: it cannot be merged; nothing merged.")
        )
    desk.reply(origin, text.format(incident=number))


async def unknown_site(notice: n.UnknownSite, desk: Desk, origin: Origin) -> None:
    if notice.known:
        text = _("No service is at site «{site}». Sites: {known}.")
    else:
        text = _(
            "No service has a site yet; a manager sets one with "
            "python -m crm service site SERVICE_ID SITE."
        )
    desk.reply(origin, text.format(site=notice.site, known=", ".join(notice.known)))
