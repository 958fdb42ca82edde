"""Outage evidence, in the ticket's topic: confirm, reject, restore, classify."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
from crm.dto import TelegramUser
from crm.errors import CrmError
from crm.incidents import IncidentService, incident_start
from crm.models import Incident, Ticket
from crm.tickets import TicketService
from sla.intervals import short_duration
from sla.model import Exclusion, Layer, RestorationType
from sla.targets import restoration_target

LAYERS = ", ".join(layer.value for layer in Layer)
EXCLUSIONS = "|".join(exclusion.value for exclusion in Exclusion)


@dataclass(frozen=True)
class IncidentCommand:
    """An engineer's command about the outage of the ticket whose topic it was sent in."""

    message: Message
    args: str
    ticket: Ticket
    incident: Incident
    engineer: TelegramUser
    incidents: IncidentService
    desk: Desk
    i18n: I18n

    def answer(self, text: str) -> None:
        self.desk.answer(self.message, text)

    async def tell_client(self, text: LazyProxy, **values: object) -> None:
        # The engineer's command runs in the group's language; the client reads their own.
        with self.i18n.use_locale(client_locale(self.ticket, self.i18n)):
            await self.desk.tell_client(self.ticket, str(text).format(**values))


IncidentHandler = Callable[[IncidentCommand], Awaitable[None]]


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

    def on_incident(name: str) -> Callable[[IncidentHandler], IncidentHandler]:
        """Registers `/name` for a ticket's outage: the handler gets it already found."""

        def register(handler: IncidentHandler) -> IncidentHandler:
            @router.message(Command(name))
            async def resolve_incident(
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
                await handler(
                    IncidentCommand(
                        message,
                        (command.args or "").strip(),
                        ticket,
                        incident,
                        telegram_user(message.from_user),
                        incidents,
                        desk,
                        i18n,
                    )
                )

            return handler

        return register

    @on_incident("confirm")
    async def confirm(c: IncidentCommand) -> None:
        try:
            layer = Layer(c.args.lower())
        except ValueError:
            c.answer(
                _("Write it as: /confirm LAYER, where LAYER is one of: {layers}").format(
                    layers=LAYERS
                )
            )
            return
        incident = await c.incidents.confirm(c.incident, layer, c.engineer, c.message.date)
        c.answer(
            _("✅ Outage #{incident} confirmed, layer {layer}.").format(
                incident=incident.id, layer=layer.value
            )
        )
        await c.tell_client(
            __("We confirm the outage of {service}. Our engineers are restoring it."),
            service=incident.service.name,
        )

    @on_incident("reject")
    async def reject(c: IncidentCommand) -> None:
        if not c.args:
            c.answer(_("Write it as: /reject REASON, e.g. /reject client-side DNS"))
            return
        await c.incidents.reject(c.incident, c.args, c.engineer, c.message.date)
        c.answer(_("Outage #{incident} rejected.").format(incident=c.incident.id))
        await c.tell_client(
            __(
                "We checked: this is not an outage of our service ({reason}). "
                "We keep helping you in this ticket."
            ),
            reason=c.args,
        )

    @on_incident("restored")
    async def restored(c: IncidentCommand) -> None:
        desk = c.desk
        parsed = parse_stated_time(c.args, c.message.date, desk.zone)
        if isinstance(parsed, ParseError):
            c.answer(
                _(
                    "«{value}» is not a time. Write it as: /restored [HH:MM | YYYY-MM-DD HH:MM]"
                ).format(value=parsed.value)
            )
            return
        restored_at, stated = parsed
        try:
            incident = await c.incidents.restore(
                c.incident, restored_at, c.engineer, stated=stated, message_time=c.message.date
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
            c.answer(text)
            return
        start = incident_start(incident)
        minutes = f"{(restored_at - start).total_seconds() / 60 if start else 0.0:.0f}"
        c.answer(
            _(
                "🟢 Outage #{incident} restored at {time}; {minutes} min from the first evidence."
            ).format(incident=incident.id, time=desk.local(restored_at), minutes=minutes)
        )
        await c.tell_client(
            __(
                "{service} is restored ({time}). Recorded downtime: {minutes} min, "
                "from {start} to {time}."
            ),
            service=incident.service.name,
            time=desk.local(restored_at),
            start=desk.local(start),
            minutes=minutes,
        )

    @on_incident("exclude")
    async def exclude(c: IncidentCommand) -> None:
        kind, _sep, note = c.args.partition(" ")
        try:
            exclusion = Exclusion(kind.lower())
        except ValueError:
            c.answer(_("Write it as: /exclude {kinds} [NOTE]").format(kinds=EXCLUSIONS))
            return
        await c.incidents.exclude(
            c.incident, exclusion, note.strip() or None, c.engineer, c.message.date
        )
        c.answer(
            _("Outage #{incident} marked {exclusion}: its downtime is not counted.").format(
                incident=c.incident.id, exclusion=exclusion.value
            )
        )

    @on_incident("restoration")
    async def restoration(c: IncidentCommand) -> None:
        try:
            kind = RestorationType(c.args.lower())
        except ValueError:
            c.answer(_("Write it as: /restoration reboot|repair"))
            return
        await c.incidents.set_restoration_type(c.incident, kind, c.engineer, c.message.date)
        target = short_duration(restoration_target(kind, settings.sla_config()))
        c.answer(
            _(
                "Outage #{incident}: restoration by {kind}, target {target} from confirmation."
            ).format(incident=c.incident.id, kind=kind.value, target=target)
        )

    @on_incident("dataloss")
    async def data_loss(c: IncidentCommand) -> None:
        await c.incidents.mark_data_loss(c.incident, c.engineer, c.message.date)
        c.answer(
            _(
                "Outage #{incident}: client data lost or damaged through our fault "
                "(credit: half the month's fee)."
            ).format(incident=c.incident.id)
        )
        await c.tell_client(
            __(
                "We have recorded that your data was lost or damaged through our fault. "
                "A credit of half this month's fee applies; ask for it with /claim."
            )
        )

    return router
