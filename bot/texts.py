"""Texts several handlers and notices share: help, usage lines, parse errors explained.

Each is read in the current locale (the reader's, set per update by bot/i18n.py).
"""

from __future__ import annotations

from datetime import timedelta

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.commands import ParseError
from crm.models import TicketStatus
from sla.model import Exclusion, Layer

LAYERS = ", ".join(layer.value for layer in Layer)
EXCLUSIONS = "|".join(exclusion.value for exclusion in Exclusion)

MAINTENANCE_USAGE = "/maintenance SERVICE_ID|all YYYY-MM-DD HH:MM YYYY-MM-DD HH:MM TEXT"


def help_text() -> str:
    return _(
        "Write your question or problem here, with photos or files if useful: "
        "every message goes to our engineers and is recorded.\n\n"
        "/down – report that a service is down\n"
        "/new – start a new ticket\n"
        "/tickets – your tickets\n"
        "/close – close the current ticket\n"
        "/claim [YYYY-MM] – claim the SLA credit of a month with an outage\n"
        "/trial – ask for a free object storage trial\n"
        "/lang – change the language\n"
        "/help – this help"
    )


def engineer_help() -> str:
    """Everything, for a mistake made anywhere: both places' help."""
    return engineer_topic_help() + "\n\n" + engineer_general_help()


def engineer_room_help() -> str:
    """What works in an outage's room: every command acts on its outage."""
    return (
        _(
            "In an outage's room (the topic «Outage #N · …»), for that outage:\n"
            "/confirm LAYER – confirm it, LAYER one of: {layers}\n"
            "/reject REASON – it was not an outage\n"
            "/restored [HH:MM | YYYY-MM-DD HH:MM] – the service works again (once)\n"
            "/correct TIME REASON – correct the restoration time, saying why\n"
            "/exclude {exclusions} [NOTE] – its downtime is not counted\n"
            "/restoration reboot|repair – how it is being restored\n"
            "/dataloss – the outage lost client data\n"
            "write – your message is copied to every client who reported it (! keeps it here)\n"
            "/open TICKET – one report gets its own topic, to answer that client alone\n"
            "Every reporting client hears the decisions in their language.\n"
            "/help – this help"
        ).format(layers=LAYERS, exclusions=EXCLUSIONS)
        + "\n"
        + _(
            "/merge #A #B – gather those outages into this one: one room, its commands act on "
            "each (#N first: on that one alone), each keeps its own downtime\n"
            "/site SITE – gather every running outage at the site, and its new reports while "
            "this one runs"
        )
    )


def engineer_topic_help() -> str:
    """What works in a ticket's topic."""
    topic = _(
        "In a ticket's topic:\n"
        "write – your message is copied to the client\n"
        "/note TEXT or a message starting with ! – an internal note, never sent\n"
        "/take – assign the ticket to yourself\n"
        "/resolve, /reopen – resolve or reopen the ticket\n"
        "/link CUSTOMER_ID – link an unknown customer's ticket, and the client with it\n"
        "/service SERVICE_ID – the service the ticket is about\n"
        "/outage SERVICE_ID [HH:MM] – the client reported an outage of it (at the message "
        "you reply to, the stated time, or the client's last message); it joins the running "
        "outage of that service or opens one, with its own room\n"
        "/confirm LAYER – confirm it, LAYER one of: {layers}\n"
        "/reject REASON – it was not an outage\n"
        "/restored [HH:MM | YYYY-MM-DD HH:MM] – the service works again (once)\n"
        "/correct TIME REASON – correct the restoration time, saying why\n"
        "/exclude {exclusions} [NOTE] – its downtime is not counted\n"
        "/restoration reboot|repair – how it is being restored\n"
        "/dataloss – the outage lost client data\n"
        "With several outages in one ticket, name one first: /confirm #12 LAYER.\n"
        "/help – this help"
    ).format(layers=LAYERS, exclusions=EXCLUSIONS)
    handoff = _(
        "/handoff DEPARTMENT [NOTE] – hand the ticket to another department (billing, sales…)"
    )
    return topic + "\n" + handoff


def engineer_general_help() -> str:
    """What works in the support group's general topic."""
    return (
        _(
            "In the general topic:\n"
            "/board – open tickets by time left\n"
            "/phone CUSTOMER_ID [HH:MM] TEXT – log a request received by phone\n"
            "/email CUSTOMER_ID [HH:MM] TEXT – log a request received by e-mail\n"
            "/help – this help; in a ticket's topic, what works there"
        )
        + "\n"
        + _("/merge #A #B … – gather outages into the first one named (its room)")
    )


def status_label(status: TicketStatus) -> str:
    return {
        TicketStatus.OPEN: _("open"),
        TicketStatus.RESOLVED: _("resolved"),
        TicketStatus.CLOSED: _("closed"),
    }[status]


def offline_usage(command: str) -> str:
    return _(
        "Write it as: /{command} CUSTOMER_ID [HH:MM] TEXT, e.g. /{command} 12 09:30 Server is down"
    ).format(command=command)


def explain_offline(error: ParseError) -> str:
    reasons = {
        "missing_arguments": _("The customer id and the request text are missing."),
        "customer_not_a_number": _("The customer id must be a number, not «{value}»."),
        "bad_time": _("{value} is not a time of day: use HH:MM from 00:00 to 23:59."),
        "missing_text": _("The request text is missing."),
    }
    return reasons[error.reason].format(value=error.value)


def explain_maintenance(error: ParseError) -> str:
    reasons = {
        "maintenance_arguments": _("The service, start, end and text are needed."),
        "maintenance_target": _("«{value}» is neither a service id nor «all»."),
        "bad_moment": _("«{value}» is not a local time YYYY-MM-DD HH:MM."),
        "maintenance_order": _("The end must be after the start."),
        "missing_text": _("The text for the clients is missing."),
    }
    return reasons[error.reason].format(value=error.value)


def duration(delta: timedelta) -> str:
    """A span as people say it: whole hours in hours, under a minute in seconds, else minutes."""
    seconds = max(round(delta.total_seconds()), 0)
    if seconds < 60:
        return ngettext("{count} second", "{count} seconds", seconds).format(count=seconds)
    minutes = round(delta.total_seconds() / 60)
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return ngettext("{count} hour", "{count} hours", hours).format(count=hours)
    return ngettext("{count} minute", "{count} minutes", minutes).format(count=minutes)
