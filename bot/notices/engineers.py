"""What the managers decide that changes the engineers' work, told in the general topic.

Called by the managers' handlers after `tell`: an emergency declared or ended, maintenance
registered or cancelled reach the support group in the engineers' language.
"""

from __future__ import annotations

from datetime import timedelta

from aiogram.utils.i18n import gettext as _

from bot.desk import Desk
from bot.texts import duration
from crm.models import MaintenanceWindow
from crm.usecases import notices as n


def tell_engineers(desk: Desk, outcome: n.Outcome) -> None:
    with desk.i18n.use_locale(desk.settings.engineer_language):
        for notice in outcome.notices:
            text = engineers_text(notice, desk)
            if text is not None:
                desk.tell_engineers(text)


def engineers_text(notice: n.Notice, desk: Desk) -> str | None:
    if isinstance(notice, n.EmergencyDeclared):
        target = duration(timedelta(minutes=notice.target_minutes))
        text = _(
            "🚨 The managers declared an emergency: new tickets must be answered within {target}."
        )
        return text.format(target=target)
    if isinstance(notice, n.EmergencyEnded):
        target = duration(timedelta(minutes=notice.normal_minutes))
        text = _("The emergency is over: new tickets are back to a first response within {target}.")
        return text.format(target=target)
    if isinstance(notice, n.MaintenanceRegistered):
        text = _("🛠 Maintenance #{id} planned ({scope}): {window}. {description}")
        return text.format(
            id=notice.window.id,
            scope=scope(notice.window),
            window=window_span(notice.window, desk),
            description=notice.window.description,
        )
    if isinstance(notice, n.MaintenanceCancelled):
        text = _("Maintenance #{id} ({scope}, {window}) is cancelled.")
        return text.format(
            id=notice.window.id, scope=scope(notice.window), window=window_span(notice.window, desk)
        )
    return None


def scope(window: MaintenanceWindow) -> str:
    if window.service_id is None:
        return _("all services")
    return _("service {service_id}").format(service_id=window.service_id)


def window_span(window: MaintenanceWindow, desk: Desk) -> str:
    return _("from {start} to {end} ({zone})").format(
        start=desk.local(window.starts_at),
        end=desk.local(window.ends_at),
        zone=desk.settings.timezone,
    )
