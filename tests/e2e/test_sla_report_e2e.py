"""An outage in October 2026, from the client's /down to the monthly SLA report.

The real ``python -m bot`` process runs against the fake Bot API; customers, services and the
invitation come from the managers' command line (``python -m crm``) and the figures from the
report command line (``python -m sla report --format json``), all on one SQLite database.

Every expected figure is worked out by hand below from the terms (PRODUCT.md, "Rules the SLA
engine implements"), never by calling the ``sla`` package, so the test checks the engine's
arithmetic rather than repeating it.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.harness import MANAGER_ID, SUPPORT_CHAT_ID, BotProcess, BotProcessFactory
from tests.fake_bot_api import FakeBotAPI, UploadedFile

CLIENT_ID = 700001
ENGINEER_ID = 500001
BOT_ENV = {"POLLING_TIMEOUT_SECONDS": "1", "SEND_BACKOFF_SECONDS": "0.1"}
BOT_USERNAME = "test_support_bot"
CUSTOMER_NAME = "Steppe Cloud LLP"
SERVICE_NAME = "rack-1"
WAIT = 15.0
ALMATY = ZoneInfo("Asia/Almaty")  # UTC+5 all year (no daylight saving)


def spoken(minutes: int) -> str:
    """A span as bot.texts.duration words it in English."""
    if minutes >= 60 and minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"


def local(text: str) -> datetime:
    """A provider-local wall-clock time ("2026-10-10 10:00"), timezone-aware."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ALMATY)


def unix(moment: datetime) -> int:
    """Telegram's `date` field."""
    return int(moment.timestamp())


def stored(moment: datetime) -> str:
    """How the database keeps a UTC time in SQLite (naive text)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def utc_instant(text: str | None) -> datetime | None:
    """An instant of the JSON report (ISO 8601, UTC) as an aware datetime."""
    return None if text is None else datetime.fromisoformat(text)


# -- the hand arithmetic shared by both scenarios --------------------------------------------

# October has 31 days; the service is active since 2026-01-01, so the whole month counts:
# 31 days × 24 h × 60 min.
ACTIVE_MINUTES = 31 * 24 * 60  # = 44640
FEE = 150000
# The client's /down at 10:00 local (= 05:00 UTC, Almaty is UTC+5) is the earliest evidence.
DOWN_AT = local("2026-10-10 10:00")
# The engineer confirms at 10:05 local: the restoration target runs from here.
CONFIRMED_AT = local("2026-10-10 10:05")
# Planned maintenance 11:00–12:00 local lies wholly inside both outages below: 60 minutes.
MAINTENANCE_START, MAINTENANCE_END = local("2026-10-10 11:00"), local("2026-10-10 12:00")
MAINTENANCE_OVERLAP_MINUTES = (12 - 11) * 60  # = 60
# The manager plans it at 09:55 local, after the client is linked and before the outage.
PLANNED_AT = local("2026-10-10 09:55")
# Restoration by repair: 8 hours from confirmation.
REPAIR_TARGET_MINUTES = 8 * 60  # = 480


def truncated(value: Fraction, places: int) -> float:
    """The report's rounding rule for percentages: TRUNCATE (floor) to `places` decimals,
    never round up, so a printed 99.9 never hides a figure below 99.9."""
    scale = 10**places
    return math.floor(value * scale) / scale


@dataclass(frozen=True)
class Expected:
    """One scenario's figures, worked out by hand in the test functions."""

    restored_at: datetime
    restored_sent_at: datetime
    raw_minutes: int
    counted_minutes: int
    availability: float
    tier: str
    credit_percent: float
    credit_amount: str
    restoration_minutes: int
    restoration_met: bool
    claimed: bool


# -- running the command lines ----------------------------------------------------------------


def cli_env(bot: BotProcess) -> dict[str, str]:
    """The bot's database and zone; a fixed bot username so `invite` never asks the Bot API."""
    env = {
        **os.environ,
        "DATABASE_URL": bot.database_url,
        "BOT_USERNAME": BOT_USERNAME,
        "TIMEZONE": "Asia/Almaty",
    }
    for name in ("BOT_TOKEN", "TELEGRAM_API_URL"):
        env.pop(name, None)
    return env


async def run_cli(bot: BotProcess, module: str, *args: str) -> str:
    """`python -m MODULE ARGS` on the bot's database; stdout, after checking it succeeded.

    Async, because the fake Bot API lives in this event loop and must keep answering the bot.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        cwd=bot.cwd,  # the same code and working directory as the bot process
        env=cli_env(bot),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, (
        f"python -m {module} {' '.join(args)} exited {process.returncode}\n"
        f"stdout: {stdout.decode(errors='replace')}\nstderr: {stderr.decode(errors='replace')}"
    )
    return stdout.decode()


async def crm_json(bot: BotProcess, *args: str) -> dict[str, Any]:
    result = json.loads(await run_cli(bot, "crm", *args, "--json"))
    assert isinstance(result, dict) and "error" not in result, result
    return result


async def report_json(bot: BotProcess, month: str) -> dict[str, Any]:
    result = json.loads(await run_cli(bot, "sla", "report", "--month", month, "--format", "json"))
    assert isinstance(result, dict), result
    return result


# -- Telegram side ------------------------------------------------------------------------------


def client_says(api: FakeBotAPI, text: str, at: datetime) -> dict[str, Any]:
    return api.private_message(CLIENT_ID, text, first_name="Aigerim", date=unix(at))


def engineer_says(api: FakeBotAPI, text: str, thread_id: int, at: datetime) -> dict[str, Any]:
    return api.group_message(
        SUPPORT_CHAT_ID, ENGINEER_ID, text, thread_id=thread_id, first_name="Dana", date=unix(at)
    )


def manager_says(api: FakeBotAPI, text: str, at: datetime) -> dict[str, Any]:
    return api.private_message(MANAGER_ID, text, first_name="Marat", date=unix(at))


async def expect_sent(
    api: FakeBotAPI, bot: BotProcess, chat_id: int, text: str, *, since: int
) -> None:
    """A message containing `text` reaches chat_id (after index `since` of api.sent)."""
    try:
        await api.wait_sent(chat_id, text_contains=text, since=since, timeout=WAIT)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{bot.tail()}") from None


async def prepared_desk(
    bot_process_factory: BotProcessFactory, fake_api: FakeBotAPI
) -> tuple[BotProcess, int]:
    """Customer, dedicated service and invitation via `python -m crm`, then the bot started.

    Returns the bot and the service id.
    """
    bot = bot_process_factory(env=BOT_ENV)
    customer = (await crm_json(bot, "customer", "add", CUSTOMER_NAME))["customer"]
    service_args = (
        f"--customer={customer['id']}",
        "--type=dedicated",
        f"--fee={FEE}",
        f"--name={SERVICE_NAME}",
        "--since=2026-01-01",
    )
    service = (await crm_json(bot, "service", "add", *service_args))["service"]
    assert service["monthly_fee"] == "150000.00", service
    invitation = await crm_json(bot, "invite", "--customer", str(customer["id"]))
    assert invitation["link"] == f"https://t.me/{BOT_USERNAME}?start={invitation['token']}"

    fake_api.add_member(SUPPORT_CHAT_ID, ENGINEER_ID, "member")
    await bot.start()

    mark = len(fake_api.sent)
    fake_api.push_update(
        client_says(fake_api, f"/start {invitation['token']}", local("2026-10-10 09:50"))
    )
    await expect_sent(fake_api, bot, CLIENT_ID, f"linked to {CUSTOMER_NAME}", since=mark)
    return bot, int(service["id"])


async def outage_scenario(
    bot: BotProcess, fake_api: FakeBotAPI, service_id: int, expected: Expected
) -> None:
    """/maintenance ahead, then /down, /confirm hardware, /restoration repair, /restored."""
    # 0. The manager plans the maintenance window ahead (a window already over is refused);
    #    the linked client is told.
    mark = len(fake_api.sent)
    fake_api.push_update(
        manager_says(
            fake_api,
            f"/maintenance {service_id} {MAINTENANCE_START:%Y-%m-%d %H:%M} "
            f"{MAINTENANCE_END:%Y-%m-%d %H:%M} Power work",
            PLANNED_AT,
        )
    )
    await expect_sent(fake_api, bot, MANAGER_ID, "Maintenance #1 registered; 1 client ", since=mark)
    await expect_sent(fake_api, bot, CLIENT_ID, "Power work", since=mark)

    # 1. The client reports the outage; with one service the incident opens for it at once.
    mark = len(fake_api.sent)
    fake_api.push_update(client_says(fake_api, "/down", DOWN_AT))
    await expect_sent(fake_api, bot, CLIENT_ID, "is down since", since=mark)
    await expect_sent(fake_api, bot, SUPPORT_CHAT_ID, "⚡ Outage #1: service", since=mark)
    # The ticket's topic, then the outage's room; commands work in the ticket's topic too.
    created = fake_api.requests_of("createForumTopic")
    assert [str(r.params["name"]).split(" · ")[0] for r in created] == ["#1", "Outage #1"]
    thread_id = int(created[0].result["message_thread_id"])

    # 2. The engineer confirms it (hardware counts for a dedicated environment).
    mark = len(fake_api.sent)
    fake_api.push_update(engineer_says(fake_api, "/confirm hardware", thread_id, CONFIRMED_AT))
    await expect_sent(fake_api, bot, SUPPORT_CHAT_ID, "confirmed, layer hardware", since=mark)

    # 3. Restoration type: repair (8 h target).
    mark = len(fake_api.sent)
    fake_api.push_update(
        engineer_says(fake_api, "/restoration repair", thread_id, local("2026-10-10 10:06"))
    )
    await expect_sent(fake_api, bot, SUPPORT_CHAT_ID, "restoration by repair", since=mark)

    # 4. Restored at a stated time, written later than that time.
    stated = expected.restored_at.strftime("%Y-%m-%d %H:%M")
    mark = len(fake_api.sent)
    fake_api.push_update(
        engineer_says(fake_api, f"/restored {stated}", thread_id, expected.restored_sent_at)
    )
    # The bot's own reply gives the raw outage length from the first evidence.
    await expect_sent(
        fake_api,
        bot,
        SUPPORT_CHAT_ID,
        f"{spoken(expected.raw_minutes)} from the first evidence",
        since=mark,
    )

    # The restoration time is a statement, kept with who made it (PRODUCT.md, evidence time).
    assert bot.query(
        "SELECT actor_telegram_id, actor_role, stated, evidence_at FROM incident_events"
        " WHERE kind = 'restored'"
    ) == [(ENGINEER_ID, "engineer", 1, stored(expected.restored_at))]


def check_report(report: dict[str, Any], service_id: int, expected: Expected) -> None:
    assert report["month"] == "2026-10"
    assert report["timezone"] == "Asia/Almaty"
    assert report["empty"] is False
    assert [s["service_id"] for s in report["services"]] == [service_id], report["services"]
    service = report["services"][0]
    figures = {key: value for key, value in service.items() if key != "incidents"}
    assert figures == {
        "customer_id": 1,
        "customer": CUSTOMER_NAME,
        "service_id": service_id,
        "service_name": SERVICE_NAME,
        "service_type": "dedicated",
        "currency": "KZT",
        "monthly_fee": "150000.00",
        "trial_until": None,
        # Active and paid the whole month: the pro rata base is the whole fee.
        "credit_base_amount": "150000.00",
        "active_minutes": ACTIVE_MINUTES,
        "downtime_minutes": expected.counted_minutes,
        "excluded_minutes": MAINTENANCE_OVERLAP_MINUTES,
        "availability_percent": expected.availability,
        "tier": expected.tier,
        "sla_applies": True,
        "credit_percent": expected.credit_percent,
        "credit_amount": expected.credit_amount,
        "data_loss_credit_amount": "0.00",
        # No data loss and far below the cap (one month's fee): total = tier credit.
        "total_credit_amount": expected.credit_amount,
        "claimed": expected.claimed,
    }, json.dumps(service, indent=2)

    assert len(service["incidents"]) == 1, service["incidents"]
    incident = service["incidents"][0]
    # Instants are ISO 8601 in UTC; compared as instants so "Z" and "+00:00" both pass.
    assert utc_instant(incident["start"]) == DOWN_AT.astimezone(UTC)
    assert utc_instant(incident["start"]) == datetime(2026, 10, 10, 5, 0, tzinfo=UTC)
    assert utc_instant(incident["end"]) == expected.restored_at.astimezone(UTC)
    assert utc_instant(incident["confirmed_at"]) == datetime(2026, 10, 10, 5, 5, tzinfo=UTC)
    assert {
        key: incident[key] for key in incident if key not in ("start", "end", "confirmed_at")
    } == {
        "incident_id": 1,
        "ticket_number": 1,
        "status": "confirmed",
        "layer": "hardware",
        "exclusion": None,
        "not_counted_reason": None,
        "counted_minutes": expected.counted_minutes,
        "excluded_minutes": MAINTENANCE_OVERLAP_MINUTES,
        "data_loss": False,
        "restoration_type": "repair",
        "restoration_target_minutes": REPAIR_TARGET_MINUTES,
        "restoration_minutes": expected.restoration_minutes,
        "restoration_outcome": "met" if expected.restoration_met else "breached",
        "restoration_met": expected.restoration_met,
    }, json.dumps(incident, indent=2)

    tickets = report["tickets"]
    assert tickets["count"] == 1
    restoration = tickets["restoration"]
    assert restoration["count"] == 1
    assert restoration["measured"] == 1
    assert restoration["within_target_percent"] == (100.0 if expected.restoration_met else 0.0)
    assert restoration["breaches"] == (
        [] if expected.restoration_met else [{"incident_id": 1, "ticket_number": 1}]
    )


# -- 1. a three-hour outage: 99.0 % ≤ availability < 99.9 %, the dash band -----------------


@pytest.mark.slow
async def test_short_outage_with_maintenance_lands_in_the_dash_band(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot, service_id = await prepared_desk(bot_process_factory, fake_api)

    # Restored at 13:00 local (stated), the statement written at 13:30 local.
    restored_at = local("2026-10-10 13:00")
    # Raw outage 10:00 → 13:00 = 3 h.
    raw = (13 - 10) * 60  # = 180 min
    # Maintenance 11:00–12:00 lies inside it and is not counted.
    counted = raw - MAINTENANCE_OVERLAP_MINUTES  # = 120 min
    # availability = 100 × (44640 − 120) / 44640 = 100 × 44520 / 44640 = 99.731182795…
    exact = Fraction(100 * (ACTIVE_MINUTES - counted), ACTIVE_MINUTES)
    assert Fraction(99, 1) <= exact < Fraction(999, 10)  # the 99.0–99.9 band
    # Truncated (floor) to 4 decimals: 99.7311 (99.73118… → 99.7311).
    assert truncated(exact, 4) == 99.7311
    # The terms print a dash in the 99.0–99.9 row: 0 % by default, so 0.00 KZT.
    # Restoration: confirmed 10:05 → restored 13:00 = 2 h 55 min = 175 min ≤ 480 → met.
    restoration_minutes = (13 * 60 + 0) - (10 * 60 + 5)  # = 175
    assert restoration_minutes <= REPAIR_TARGET_MINUTES
    expected = Expected(
        restored_at=restored_at,
        restored_sent_at=local("2026-10-10 13:30"),
        raw_minutes=raw,
        counted_minutes=counted,
        availability=99.7311,
        tier="minor",
        credit_percent=0.0,
        credit_amount="0.00",
        restoration_minutes=restoration_minutes,
        restoration_met=True,
        claimed=False,
    )

    await outage_scenario(bot, fake_api, service_id, expected)
    check_report(await report_json(bot, "2026-10"), service_id, expected)

    # The manager's /report in Telegram: a summary, the spreadsheet and the chart.
    mark = len(fake_api.requests)
    fake_api.push_update(manager_says(fake_api, "/report 2026-10", local("2026-10-31 18:00")))
    try:
        summary = await fake_api.wait_for("sendMessage", chat_id=MANAGER_ID, since=mark, timeout=30)
        document = await fake_api.wait_for("sendDocument", chat_id=MANAGER_ID, since=mark)
        photo = await fake_api.wait_for("sendPhoto", chat_id=MANAGER_ID, since=mark)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{bot.tail()}") from None
    assert "SLA report 2026-10" in str(summary[0].params.get("text")), summary[0].summary()
    # aiogram uploads as attach://…; the fake resolves the reference to the uploaded file.
    spreadsheet = document[0].params["document"]
    assert isinstance(spreadsheet, UploadedFile), document[0].summary()
    assert (spreadsheet.filename or "").endswith(".xlsx"), spreadsheet
    assert spreadsheet.content.startswith(b"PK"), "an .xlsx file is a zip archive"
    chart = photo[0].params["photo"]
    assert isinstance(chart, UploadedFile) and chart.size > 0, photo[0].summary()
    assert not fake_api.unknown_methods, fake_api.unknown_methods


# -- 2. a 24-hour outage: 95.0 % ≤ availability < 99.0 %, 10 % credit, claimed -------------


@pytest.mark.slow
async def test_day_long_outage_earns_ten_percent_credit_and_is_claimed(
    fake_api: FakeBotAPI, bot_process_factory: BotProcessFactory
) -> None:
    bot, service_id = await prepared_desk(bot_process_factory, fake_api)

    # Restored at 10:00 local the next day (stated), the statement written at 10:30 local.
    restored_at = local("2026-10-11 10:00")
    # Raw outage 2026-10-10 10:00 → 2026-10-11 10:00 = 24 h.
    raw = 24 * 60  # = 1440 min
    counted = raw - MAINTENANCE_OVERLAP_MINUTES  # = 1380 min
    # availability = 100 × (44640 − 1380) / 44640 = 100 × 43260 / 44640 = 96.908602150…
    exact = Fraction(100 * (ACTIVE_MINUTES - counted), ACTIVE_MINUTES)
    assert Fraction(95, 1) <= exact < Fraction(99, 1)  # the 95.0–99.0 band: 10 %
    # Truncated (floor) to 4 decimals: 96.9086.
    assert truncated(exact, 4) == 96.9086
    # Credit 10 % of 150000 = 15000.00 KZT.
    credit = FEE * 10 // 100  # = 15000
    # Restoration: confirmed 2026-10-10 10:05 → restored 2026-10-11 10:00
    # = 24 h − 5 min = 1435 min > 480 → breached.
    restoration_minutes = 24 * 60 - 5  # = 1435
    assert restoration_minutes > REPAIR_TARGET_MINUTES
    expected = Expected(
        restored_at=restored_at,
        restored_sent_at=local("2026-10-11 10:30"),
        raw_minutes=raw,
        counted_minutes=counted,
        availability=96.9086,
        tier="major",
        credit_percent=10.0,
        credit_amount=f"{credit}.00",
        restoration_minutes=restoration_minutes,
        restoration_met=False,
        claimed=True,
    )

    await outage_scenario(bot, fake_api, service_id, expected)

    # The client asks for October's credit.
    mark = len(fake_api.sent)
    fake_api.push_update(client_says(fake_api, "/claim 2026-10", local("2026-10-11 11:00")))
    await expect_sent(
        fake_api, bot, CLIENT_ID, f"credits of 2026-10 is recorded for: {SERVICE_NAME}", since=mark
    )

    check_report(await report_json(bot, "2026-10"), service_id, expected)
    assert not fake_api.unknown_methods, fake_api.unknown_methods
