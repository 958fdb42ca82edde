"""Outage evidence, in the ticket's topic: confirm, reject, restore, classify."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from aiogram.utils.i18n.lazy_proxy import LazyProxy

from bot.commands import ParseError, parse_stated_time
from bot.desk import Desk
from bot.handlers.support import client_locale, require_ticket, ticket_of
from bot.incoming import telegram_user
from bot.settings import BotSettings
from crm.incidents import IncidentService, incident_start
from crm.models import Incident, Ticket
from crm.services import CrmError, TicketService
from sla.model import Exclusion, Layer, RestorationType

LAYERS = ", ".join(layer.value for layer in Layer)
EXCLUSIONS = "|".join(exclusion.value for exclusion in Exclusion)


def make_router(settings: BotSettings) -> Router:
    router = Router(name="incidents")
    router.message.filter(lambda message: message.chat.id == settings.support_chat_id)

    async def ticket_and_incident(
        message: Message,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
    ) -> tuple[Ticket, Incident] | None:
        ticket = await require_ticket(message, tickets, desk)
        if ticket is None:
            return None
        incident = await incidents.for_ticket(ticket.id)
        if incident is None:
            desk.answer(
                message,
                _(
                    "#{number} has no outage yet. The client reports one with /down, "
                    "or open it here with /outage SERVICE_ID."
                ).format(number=ticket.id),
            )
            return None
        return ticket, incident

    async def tell_client(
        desk: Desk, ticket: Ticket, i18n: I18n, text: LazyProxy, **values: object
    ) -> None:
        # The engineer's command runs in the group's language; the client reads their own.
        with i18n.use_locale(client_locale(ticket, i18n)):
            await desk.tell_client(ticket, str(text).format(**values))

    @router.message(Command("outage"))
    async def open_outage(
        message: Message,
        command: CommandObject,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
    ) -> None:
        ticket = await ticket_of(message, tickets)
        if ticket is None or message.from_user is None:
            desk.answer(message, _("Use /outage SERVICE_ID inside the ticket's topic."))
            return
        argument = (command.args or "").strip()
        if not argument.isdigit():
            desk.answer(message, _("Write it as: /outage SERVICE_ID, e.g. /outage 7"))
            return
        try:
            incident, created = await incidents.open_for_ticket(
                ticket,
                int(argument),
                ticket.opened_at,
                telegram_user(message.from_user),
                "engineer",
            )
        except CrmError:
            desk.answer(
                message,
                _("Service {service_id} does not belong to this ticket's customer.").format(
                    service_id=argument
                ),
            )
            return
        desk.answer(
            message,
            _(
                "⚡ Outage #{incident} of service {service_id} opened; start evidence {time}."
            ).format(
                incident=incident.id,
                service_id=incident.service_id,
                time=desk.local(incident_start(incident)),
            )
            if created
            else _("This ticket already has outage #{incident} for that service.").format(
                incident=incident.id
            ),
        )

    @router.message(Command("confirm"))
    async def confirm(
        message: Message,
        command: CommandObject,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
        i18n: I18n,
    ) -> None:
        found = await ticket_and_incident(message, tickets, incidents, desk)
        if found is None or message.from_user is None:
            return
        ticket, incident = found
        try:
            layer = Layer((command.args or "").strip().lower())
        except ValueError:
            desk.answer(
                message,
                _("Write it as: /confirm LAYER, where LAYER is one of: {layers}").format(
                    layers=LAYERS
                ),
            )
            return
        incident = await incidents.confirm(
            incident, layer, telegram_user(message.from_user), message.date
        )
        desk.answer(
            message,
            _("✅ Outage #{incident} confirmed, layer {layer}.").format(
                incident=incident.id, layer=layer.value
            ),
        )
        await tell_client(
            desk,
            ticket,
            i18n,
            __("We confirm the outage of {service}. Our engineers are restoring it."),
            service=incident.service.name,
        )

    @router.message(Command("reject"))
    async def reject(
        message: Message,
        command: CommandObject,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
        i18n: I18n,
    ) -> None:
        found = await ticket_and_incident(message, tickets, incidents, desk)
        if found is None or message.from_user is None:
            return
        ticket, incident = found
        reason = (command.args or "").strip()
        if not reason:
            desk.answer(message, _("Write it as: /reject REASON, e.g. /reject client-side DNS"))
            return
        await incidents.reject(incident, reason, telegram_user(message.from_user), message.date)
        desk.answer(message, _("Outage #{incident} rejected.").format(incident=incident.id))
        await tell_client(
            desk,
            ticket,
            i18n,
            __(
                "We checked: this is not an outage of our service ({reason}). "
                "We keep helping you in this ticket."
            ),
            reason=reason,
        )

    @router.message(Command("restored"))
    async def restored(
        message: Message,
        command: CommandObject,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
        i18n: I18n,
    ) -> None:
        found = await ticket_and_incident(message, tickets, incidents, desk)
        if found is None or message.from_user is None:
            return
        ticket, incident = found
        parsed = parse_stated_time(command.args, message.date, desk.zone)
        if isinstance(parsed, ParseError):
            desk.answer(
                message,
                _(
                    "«{value}» is not a time. Write it as: /restored [HH:MM | YYYY-MM-DD HH:MM]"
                ).format(value=parsed.value),
            )
            return
        restored_at, stated = parsed
        try:
            incident = await incidents.restore(
                incident,
                restored_at,
                telegram_user(message.from_user),
                stated=stated,
                message_time=message.date,
            )
        except CrmError as error:
            if error.code == "restored_before_start":
                text = _("{time} is before the outage started ({start}): not recorded.").format(
                    time=desk.local(restored_at), start=desk.local(error.params["start"])
                )
            else:
                text = _("{time} is in the future: not recorded.").format(
                    time=desk.local(restored_at)
                )
            desk.answer(message, text)
            return
        start = incident_start(incident)
        minutes = (restored_at - start).total_seconds() / 60 if start else 0.0
        desk.answer(
            message,
            _(
                "🟢 Outage #{incident} restored at {time}; {minutes} min from the first evidence."
            ).format(incident=incident.id, time=desk.local(restored_at), minutes=f"{minutes:.0f}"),
        )
        await tell_client(
            desk,
            ticket,
            i18n,
            __(
                "{service} is restored ({time}). Recorded downtime: {minutes} min, "
                "from {start} to {time}."
            ),
            service=incident.service.name,
            time=desk.local(restored_at),
            start=desk.local(start),
            minutes=f"{minutes:.0f}",
        )

    @router.message(Command("exclude"))
    async def exclude(
        message: Message,
        command: CommandObject,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
    ) -> None:
        found = await ticket_and_incident(message, tickets, incidents, desk)
        if found is None or message.from_user is None:
            return
        _ticket, incident = found
        kind, _sep, note = (command.args or "").strip().partition(" ")
        try:
            exclusion = Exclusion(kind.lower())
        except ValueError:
            desk.answer(message, _("Write it as: /exclude {kinds} [NOTE]").format(kinds=EXCLUSIONS))
            return
        await incidents.exclude(
            incident,
            exclusion,
            note.strip() or None,
            telegram_user(message.from_user),
            message.date,
        )
        desk.answer(
            message,
            _("Outage #{incident} marked {exclusion}: its downtime is not counted.").format(
                incident=incident.id, exclusion=exclusion.value
            ),
        )

    @router.message(Command("restoration"))
    async def restoration(
        message: Message,
        command: CommandObject,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
    ) -> None:
        found = await ticket_and_incident(message, tickets, incidents, desk)
        if found is None or message.from_user is None:
            return
        _ticket, incident = found
        try:
            kind = RestorationType((command.args or "").strip().lower())
        except ValueError:
            desk.answer(message, _("Write it as: /restoration reboot|repair"))
            return
        await incidents.set_restoration_type(
            incident, kind, telegram_user(message.from_user), message.date
        )
        target = _("45 minutes") if kind is RestorationType.REBOOT else _("8 hours")
        desk.answer(
            message,
            _(
                "Outage #{incident}: restoration by {kind}, target {target} from confirmation."
            ).format(incident=incident.id, kind=kind.value, target=target),
        )

    @router.message(Command("dataloss"))
    async def data_loss(
        message: Message,
        tickets: TicketService,
        incidents: IncidentService,
        desk: Desk,
        i18n: I18n,
    ) -> None:
        found = await ticket_and_incident(message, tickets, incidents, desk)
        if found is None or message.from_user is None:
            return
        ticket, incident = found
        await incidents.mark_data_loss(incident, telegram_user(message.from_user), message.date)
        desk.answer(
            message,
            _(
                "Outage #{incident}: client data lost or damaged through our fault "
                "(credit: half the month's fee)."
            ).format(incident=incident.id),
        )
        await tell_client(
            desk,
            ticket,
            i18n,
            __(
                "We have recorded that your data was lost or damaged through our fault. "
                "A credit of half this month's fee applies; ask for it with /claim."
            ),
        )

    return router
