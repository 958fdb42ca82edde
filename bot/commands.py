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


LOCAL_MOMENT_FORMAT = "%Y-%m-%d %H:%M"


def parse_local_moment(text: str, zone: ZoneInfo) -> datetime | None:
    try:
        naive = datetime.strptime(text, LOCAL_MOMENT_FORMAT)  # noqa: DTZ007 - zone added next
    except ValueError:
        return None
    return naive.replace(tzinfo=zone)


def parse_stated_time(
    args: str | None, message_time: datetime, zone: ZoneInfo
) -> tuple[datetime, bool] | ParseError:
    """`[HH:MM | YYYY-MM-DD HH:MM]` → (moment, whether a person stated it)."""
    text = (args or "").strip()
    if not text:
        return message_time, False
    if TIME_SHAPE.match(text):
        clock = parse_clock_time(text)
        if clock is None:
            return ParseError("bad_time", text)
        return stated_moment(clock, message_time, zone), True
    moment = parse_local_moment(text, zone)
    if moment is None:
        return ParseError("bad_moment", text)
    return moment, True


@dataclass(frozen=True, slots=True)
class MaintenanceRequest:
    """`/maintenance SERVICE_ID|all START END TEXT`, START and END as local YYYY-MM-DD HH:MM."""

    service_id: int | None
    starts_at: datetime
    ends_at: datetime
    text: str


def parse_maintenance(args: str | None, zone: ZoneInfo) -> MaintenanceRequest | ParseError:
    parts = (args or "").split(maxsplit=5)
    if len(parts) < 5:
        return ParseError("maintenance_arguments")
    target = parts[0].lower()
    if target != "all" and not target.isdigit():
        return ParseError("maintenance_target", parts[0])
    starts_at = parse_local_moment(f"{parts[1]} {parts[2]}", zone)
    if starts_at is None:
        return ParseError("bad_moment", f"{parts[1]} {parts[2]}")
    ends_at = parse_local_moment(f"{parts[3]} {parts[4]}", zone)
    if ends_at is None:
        return ParseError("bad_moment", f"{parts[3]} {parts[4]}")
    if ends_at <= starts_at:
        return ParseError("maintenance_order")
    text = parts[5].strip() if len(parts) > 5 else ""
    if not text:
        return ParseError("missing_text")
    return MaintenanceRequest(None if target == "all" else int(target), starts_at, ends_at, text)


def parse_month_argument(args: str | None) -> str | ParseError | None:
    """`[YYYY-MM]` → the month, None for the default, or what is wrong."""
    text = (args or "").strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        return ParseError("bad_month", text)
    return text
