"""Middlewares: one database session and the CRM services per update (outer); the ticket
and outage a support-group message is about, found once for the handlers that ask (inner)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Literal

import structlog
from aiogram import BaseMiddleware, Bot, Dispatcher, Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.dispatcher.flags import get_flag
from aiogram.types import Message, TelegramObject, Update
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.desk import Desk
from bot.handlers.client.messages import client_follow_ups, follow_up
from bot.polling import Batch, current_batch
from bot.settings import BotSettings
from crm.claims import ClaimService
from crm.contacts import ContactService
from crm.emergencies import EmergencyService
from crm.incidents import IncidentService, is_open
from crm.maintenance import MaintenanceService
from crm.models import Incident, Ticket
from crm.outbox import Outbox
from crm.tickets import TicketService
from crm.updates import UpdateLog

log = structlog.get_logger()

TicketNeed = Literal["optional", "required", "incident"]


def wants_ticket(need: TicketNeed) -> dict[str, Any]:
    """Handler flags for TicketMiddleware: `optional` hands over `ticket` (None outside any
    ticket); `required` answers where to use the command when there is none; `incident`
    also hands over the ticket's `incident`, or answers that there is none yet.

    A new dict each time: aiogram adds each handler's own entries to its flags.
    """
    return {"ticket": need}


def inline_magic_filters(router: Router) -> int:
    """Makes the magic filters (`F.chat.type == "private"`) of `router` and its sub-routers
    run in the event loop; returns how many.

    aiogram runs every synchronous filter in a worker thread (`asyncio.to_thread`): a client
    message passes some 40 of them on its way to its handler, each a thread hop. A magic
    filter only reads the event it is given, so it is called directly instead.
    """
    count = 0
    for observer in router.observers.values():
        # The router's own filters (`router.message.filter(...)`), then its handlers'.
        found: list[FilterObject] = list(observer._handler.filters or [])
        for handler in observer.handlers:
            found += handler.filters or []
        for event_filter in found:
            if event_filter.magic is not None and not event_filter.awaitable:
                event_filter.callback = _awaitable(event_filter.callback)
                event_filter.awaitable = True
                count += 1
    return count + sum(inline_magic_filters(sub) for sub in router.sub_routers)


def _awaitable(resolve: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return resolve(*args, **kwargs)

    return call


# A unique-key conflict with another instance is retried; a third one is a bug, not a race.
CONFLICT_ATTEMPTS = 3


def ticket_service(session: AsyncSession, settings: BotSettings) -> TicketService:
    return TicketService(
        session,
        settings.sla_config(),
        reopen_window=timedelta(hours=settings.reopen_window_hours),
    )


class DatabaseMiddleware(BaseMiddleware):
    """One unit of work per update: its events and its outbox rows commit together.

    Polled updates join their batch's transaction in a SAVEPOINT (group commit, see
    bot/polling.py); webhook updates and tests get a transaction of their own.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: BotSettings,
        i18n: I18n,
        on_commit: Callable[[], None],
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.i18n = i18n
        self.on_commit = on_commit
        # Read once: the settings do not change while the bot runs.
        self.sla_config = settings.sla_config()
        self.reopen_window = timedelta(hours=settings.reopen_window_hours)

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        assert isinstance(event, Update)
        batch = current_batch.get()
        if batch is not None:
            return await self._handle(batch.session, handler, event, data, batch)
        async with self.sessionmaker() as session:
            result = await self._handle(session, handler, event, data)
            await session.commit()
        self.on_commit()
        return result

    async def _handle(
        self,
        session: AsyncSession,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: Update,
        data: dict[str, Any],
        batch: Batch | None = None,
    ) -> Any:
        updates = UpdateLog(session)
        tickets = TicketService(session, self.sla_config, reopen_window=self.reopen_window)
        data["session"] = session
        data["tickets"] = tickets
        data["contacts"] = ContactService(session)
        data["incidents"] = IncidentService(session)
        data["maintenance"] = MaintenanceService(session)
        data["emergencies"] = EmergencyService(session)
        data["claims"] = ClaimService(session)
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            # The update's outbox rows are written together as it ends, one executemany
            # instead of an ORM object each (an opening queues four). Made anew for each
            # attempt: a rolled-back attempt's rows must not go with the retry's.
            outbox = Outbox(session, gather=True)
            data["desk"] = Desk(self.settings, tickets, outbox, self.i18n)
            try:
                async with session.begin_nested():
                    if await self._seen(updates, event.update_id, batch, attempt):
                        log.info("duplicate_update_ignored", update_id=event.update_id)
                        data["duplicate_update"] = True  # counted apart (bot/metrics.py)
                        return None
                    result = await handler(event, data)
                    await outbox.write_gathered()
                    await updates.remember(event.update_id)
                return result
            except IntegrityError:
                # Another instance wrote the same row first: the same update (then the
                # retry sees it as seen), the same message (recorded as a duplicate), or a
                # new contact for both (the retry finds it). Nothing of ours was kept.
                log.info("concurrent_write_retried", update_id=event.update_id, attempt=attempt)
        log.error("update_dropped_after_conflicts", update_id=event.update_id)
        return None

    async def take_follow_ups(
        self, batch: Batch, dispatcher: Dispatcher, bot: Bot, updates: Sequence[Update]
    ) -> int:
        """The batch path (bot/polling.py): the leading updates of `updates` that are plain
        texts of clients to their open tickets, handled as one use case call in one
        SAVEPOINT; returns how many it took. The writes are those the dispatcher would make
        for each (tests/bot/test_batch_follow_ups.py); what it does not take is dispatched.

        Raises what the SAVEPOINT rolled back for (a concurrent duplicate, say): then none
        of it was kept, and the caller dispatches the updates one by one instead."""
        run: list[tuple[Message, int]] = []
        contacts = ContactService(batch.session)
        for update in updates:
            message = follow_up(update)
            if message is None or update.update_id in batch.seen:
                break
            assert message.from_user is not None
            # A new client's first message opens a ticket: it is dispatched. Asked here (the
            # batch's contacts are read already) so a burst of first messages, each tried
            # here before it is dispatched, does not make each try build the whole run.
            if await contacts.find(message.from_user.id) is None:
                break
            # A client asked for a new ticket (/new): their next text opens it.
            state = dispatcher.fsm.resolve_context(bot, message.chat.id, message.from_user.id)
            if state is not None and await state.get_state() is not None:
                break
            run.append((message, update.update_id))
        if not run:
            return 0
        session = batch.session
        tickets = TicketService(session, self.sla_config, reopen_window=self.reopen_window)
        outbox = Outbox(session, gather=True)
        desk = Desk(self.settings, tickets, outbox, self.i18n)
        async with session.begin_nested():
            # The notices of a follow-up are worded for the engineers, in their language.
            with self.i18n.context():
                taken = await client_follow_ups(run, tickets, desk)
            await outbox.write_gathered()
        return taken

    @staticmethod
    async def _seen(updates: UpdateLog, update_id: int, batch: Batch | None, attempt: int) -> bool:
        if batch is not None and attempt == 1 and update_id in batch.checked:
            return update_id in batch.seen  # read for the whole batch at its start
        # A retry after a conflict: another instance may have handled it since.
        return await updates.seen(update_id)


async def ticket_of(message: Message, tickets: TicketService) -> Ticket | None:
    """A topic names its ticket; without topics, a reply to one of its messages does."""
    if message.is_topic_message and message.message_thread_id is not None:
        ticket = await tickets.ticket_for_topic(message.chat.id, message.message_thread_id)
        if ticket is not None:
            return ticket
    reply = message.reply_to_message
    if reply is not None and not (reply.forum_topic_created and message.is_topic_message):
        return await tickets.ticket_for_group_message(message.chat.id, reply.message_id)
    return None


# `/confirm #12 hardware`: the incident named before the command's own arguments.
INCIDENT_ARGUMENT = re.compile(r"^#(\d+)\b")


def named_incident(message: Message) -> int | None:
    _command, _space, rest = (message.text or "").partition(" ")
    match = INCIDENT_ARGUMENT.match(rest.strip())
    return int(match.group(1)) if match else None


async def incident_of(
    message: Message, tickets: TicketService, incidents: IncidentService
) -> tuple[Ticket | None, Incident] | str:
    """The incident a command acts on, with the ticket it was given in (None in a room or
    the general topic); or what to answer instead.

    In an incident's room: that incident (its handler acts on the whole outage), or the
    member `#N` names. `#N` first names one anywhere else in the group (a ticket's topic
    only takes its own). In a ticket's topic: its one open incident, or, with
    none open, its latest; with several open, the engineer is asked which."""
    number = named_incident(message)
    if message.is_topic_message and message.message_thread_id is not None:
        room = await incidents.for_room(message.chat.id, message.message_thread_id)
        if room is not None:
            return await _in_room(room, number, incidents)
    ticket = await ticket_of(message, tickets)
    reported = await incidents.of_ticket(ticket.id) if ticket is not None else []
    if number is not None:
        chosen = await incidents.get(number)
        if chosen is None or (ticket is not None and chosen not in reported):
            return _("Outage #{incident} is not one of this ticket's.").format(incident=number)
        return ticket, chosen
    if ticket is None:
        return _(
            "Use this command in the outage's room or a ticket's topic, "
            "or name the outage first: /confirm #12 LAYER."
        )
    if not reported:
        return _(
            "#{number} has no outage yet. The client reports one with /down, "
            "or open it here with /outage SERVICE_ID."
        ).format(number=ticket.id)
    running = [incident for incident in reported if is_open(incident)]
    if len(running) > 1:
        listed = ", ".join(f"#{i.id} ({i.service.name})" for i in running)
        return _(
            "This ticket reports several outages: {listed}. Write the command in the outage's "
            "room, or name it first: /confirm #{example} LAYER."
        ).format(listed=listed, example=running[-1].id)
    return ticket, (running or reported)[-1]


async def _in_room(
    room: Incident, number: int | None, incidents: IncidentService
) -> tuple[None, Incident] | str:
    """A room's command acts on its outage (every member, see bot/handlers/incident.py);
    `#N` picks one member of it."""
    if number is None:
        return None, room
    members = await incidents.outage_members(room)
    chosen = next((member for member in members if member.id == number), None)
    if chosen is None:
        return _("Outage #{incident} is not part of this room's outage.").format(incident=number)
    return None, chosen


class TicketMiddleware(BaseMiddleware):
    """Finds the ticket (and its outage) of a support-group message for flagged handlers."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        need = get_flag(data, "ticket")
        if need is None or not isinstance(event, Message):
            return await handler(event, data)
        desk: Desk = data["desk"]
        if need == "incident":
            found = await incident_of(event, data["tickets"], data["incidents"])
            if isinstance(found, str):
                desk.answer(event, found)
                return None
            data["ticket"], data["incident"] = found
            return await handler(event, data)
        ticket = await ticket_of(event, data["tickets"])
        if ticket is None and need != "optional":
            desk.answer(
                event,
                _("Use this command inside a ticket's topic (or as a reply to a ticket message)."),
            )
            return None
        data["ticket"] = ticket
        return await handler(event, data)
