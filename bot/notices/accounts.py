"""Words for accounts, credit claims, maintenance and emergencies."""

from __future__ import annotations

from datetime import datetime

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.desk import Desk, Origin
from bot.i18n import pick_locale
from bot.texts import help_text
from crm.models import Contact, Purpose, Service
from crm.usecases import notices as n


async def linked(notice: n.AccountLinked, desk: Desk, origin: Origin) -> None:
    name = origin.from_user.first_name if origin.from_user else ""
    text = _("Hello, {name}! Your account is now linked to {customer}.").format(
        name=name, customer=notice.customer_name
    )
    desk.reply(origin, text + "\n\n" + help_text())


async def invalid_invitation(notice: n.InvitationInvalid, desk: Desk, origin: Origin) -> None:
    text = _("This invitation link is not valid any more. Ask your manager for a new one.")
    desk.reply(origin, text + "\n\n" + help_text())


async def language(notice: n.LanguageChanged, desk: Desk, origin: Origin) -> None:
    with desk.i18n.use_locale(notice.locale):
        desk.reply(origin, _("Language changed."))


async def claimed(notice: n.CreditClaimed, desk: Desk, origin: Origin) -> None:
    text = _(
        "Your request for the service credits of {month} is recorded for: {services}. "
        "Credits are applied as a discount (terms A 5.13 / B 5.9)."
    )
    services = ", ".join(s.name for s in notice.services)
    desk.reply(origin, text.format(month=notice.month, services=services))


async def claim_needs_link(notice: n.ClaimNeedsLink, desk: Desk, origin: Origin) -> None:
    desk.reply(
        origin,
        _("Credits are for linked customers: open the invitation link from your manager first."),
    )


async def no_services(notice: n.NoServicesYet, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("Your company has no services registered yet."))


async def maintenance(notice: n.MaintenanceRegistered, desk: Desk, origin: Origin) -> None:
    window = notice.window
    for contact in notice.contacts:
        with desk.i18n.use_locale(_contact_locale(contact)):
            if notice.service is None:
                text = _(
                    "Planned maintenance of all your services from {start} to {end} ({zone}): "
                    "{text}"
                )
            else:
                text = _(
                    "Planned maintenance of «{service}» from {start} to {end} ({zone}): {text}"
                )
            text = text.format(
                service=notice.service.name if notice.service else "",
                start=desk.local(window.starts_at),
                end=desk.local(window.ends_at),
                zone=desk.settings.timezone,
                text=window.description,
            )
        desk.send_to(contact.telegram_user_id, text, purpose=Purpose.MAINTENANCE)
    count = len(notice.contacts)
    text = ngettext(
        "Maintenance #{id} registered; {count} client will be notified.",
        "Maintenance #{id} registered; {count} clients will be notified.",
        count,
    ).format(id=window.id, count=count)
    if notice.started_already:
        text += "\n" + _(
            "It started already at {start} ({zone}): downtime from then on is excluded "
            "and the clients are told now."
        ).format(start=desk.local(window.starts_at), zone=desk.settings.timezone)
    desk.reply(origin, text)


async def cancelled(notice: n.MaintenanceCancelled, desk: Desk, origin: Origin) -> None:
    window = notice.window
    for contact in notice.contacts:
        with desk.i18n.use_locale(_contact_locale(contact)):
            if notice.service is None:
                text = _(
                    "The planned maintenance of all your services from {start} to {end} "
                    "({zone}) is cancelled."
                )
            else:
                text = _(
                    "The planned maintenance of «{service}» from {start} to {end} ({zone}) "
                    "is cancelled."
                )
            text = text.format(
                service=notice.service.name if notice.service else "",
                start=desk.local(window.starts_at),
                end=desk.local(window.ends_at),
                zone=desk.settings.timezone,
            )
        desk.send_to(contact.telegram_user_id, text, purpose=Purpose.MAINTENANCE)
    count = len(notice.contacts)
    text = ngettext(
        "Maintenance #{id} cancelled; {count} client will be told.",
        "Maintenance #{id} cancelled; {count} clients will be told.",
        count,
    )
    desk.reply(origin, text.format(id=window.id, count=count))


async def no_maintenance(notice: n.NoSuchMaintenance, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("There is no maintenance #{id}.").format(id=notice.window_id))


async def no_service(notice: n.NoSuchService, desk: Desk, origin: Origin) -> None:
    text = _("There is no service {service_id}.")
    desk.reply(origin, text.format(service_id=notice.service_id))


async def emergency_on(notice: n.EmergencyDeclared, desk: Desk, origin: Origin) -> None:
    text = _("🚨 Emergency declared: new tickets get the emergency target of {minutes} min.")
    desk.reply(origin, text.format(minutes=f"{notice.target_minutes:g}"))


async def emergency_off(notice: n.EmergencyEnded, desk: Desk, origin: Origin) -> None:
    text = _("Emergency ended: new tickets are back to {minutes} min.")
    desk.reply(origin, text.format(minutes=f"{notice.normal_minutes:g}"))


async def no_emergency(notice: n.NoEmergency, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("There is no emergency declared."))


def _contact_locale(contact: Contact) -> str:
    return pick_locale(contact.chosen_language, contact.telegram_language)


def service_label(service: Service | None) -> str:
    """For managers: `rack-1 (Steppe Cloud LLP)`, or all services."""
    if service is None:
        return _("all services")
    return f"{service.name} ({service.customer.name})"


def window_span(desk: Desk, starts_at: datetime, ends_at: datetime) -> str:
    """`2026-12-03 01:00 – 03:00 Asia/Almaty`: the end's date only when it is another day."""
    start, end = desk.local(starts_at), desk.local(ends_at)
    if end[:10] == start[:10]:
        end = end[11:]
    return f"{start} – {end} {desk.settings.timezone}"


async def already_over(notice: n.MaintenanceAlreadyOver, desk: Desk, origin: Origin) -> None:
    text = _("Not planned: the window {span} has already ended (times are read in {zone}).")
    span = window_span(desk, notice.starts_at, notice.ends_at)
    desk.reply(origin, text.format(span=span, zone=desk.settings.timezone))
