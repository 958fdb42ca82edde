"""Parsing of engineers' command arguments, kept pure so every mistake gets a precise reply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

TIME_SHAPE = re.compile(r"^\d{1,2}:\d{2}$")


@dataclass(frozen=True, slots=True)
class OfflineRequest:
    """`/phone CUSTOMER_ID [HH:MM] TEXT` or `/email ...` after parsing."""

    customer_id: int
    stated_time: time | None
    text: str


@dataclass(frozen=True, slots=True)
class ParseError:
    """What is wrong, as a gettext msgid and its values."""

    reason: str
    value: str = ""


def parse_clock_time(token: str) -> time | None:
    if not TIME_SHAPE.match(token):
        return None
    hours, minutes = (int(part) for part in token.split(":"))
    if hours > 23 or minutes > 59:
        return None
    return time(hours, minutes)


def parse_offline_request(args: str | None) -> OfflineRequest | ParseError:
    parts = (args or "").split(maxsplit=1)
    if not parts:
        return ParseError("missing_arguments")
    customer_token = parts[0]
    if not customer_token.isdigit():
        return ParseError("customer_not_a_number", customer_token)
    rest = parts[1] if len(parts) > 1 else ""
    stated: time | None = None
    head, _, tail = rest.partition(" ")
    if re.match(r"^\d{1,2}:\d{1,2}$", head):
        stated = parse_clock_time(head)
        if stated is None:
            return ParseError("bad_time", head)
        rest = tail
    text = rest.strip()
    if not text:
        return ParseError("missing_text")
    return OfflineRequest(int(customer_token), stated, text)


def stated_moment(stated: time, reference: datetime, zone: ZoneInfo) -> datetime:
    """The latest moment at or before `reference` whose local clock showed `stated`.

    A call taken at 23:55 and logged at 00:05 belongs to yesterday: a stated time is
    always in the past of the message that states it.
    """
    local_reference = reference.astimezone(zone)
    candidate = datetime.combine(local_reference.date(), stated, tzinfo=zone)
    if candidate > local_reference:
        candidate = datetime.combine(
            local_reference.date() - timedelta(days=1), stated, tzinfo=zone
        )
    return candidate
