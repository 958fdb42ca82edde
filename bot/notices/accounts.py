"""Words for accounts, credit claims, maintenance and emergencies."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot.desk import Desk, Origin
from bot.i18n import pick_locale
from bot.texts import help_text
from crm.models import Purpose
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


async def cancelled(notice: n.MaintenanceCancelled, desk: Desk, origin: Origin) -> None:
    desk.reply(origin, _("Maintenance #{id} cancelled.").format(id=notice.window.id))


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
