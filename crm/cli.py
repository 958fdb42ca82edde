"""`python -m crm`: the managers' command line for customers, services, invitations and the
monthly SLA report."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from crm.errors import CrmError
from crm.evidence_cli import add_backup_arguments, add_verify_arguments, run_backup, run_verify
from crm.models import Customer, Service, ServiceEvent, ServiceType, TrialRequest
from crm.report_cli import add_report_arguments, run_report
from crm.settings import CrmSettings, SettingsError, TelegramSettings, describe_validation_error

if TYPE_CHECKING:
    from crm.customers import CustomerService

# What only the managers' commands use (customers, services, monitoring imports) is imported
# by them: every `python -m crm report` pays for what this module imports at start-up.

TELEGRAM_API = "https://api.telegram.org"

ERROR_TEXTS = {
    "unknown_customer": "no customer with id {customer_id} (see: python -m crm customer list)",
    "empty_name": "the customer name is empty",
    "negative_fee": "the fee must not be negative",
    "object_storage_outside_dc": "object storage is always hosted in the provider's data centre",
    "unknown_invitation": "no such invitation token",
    "unknown_service": "no service with id {service_id} (see: python -m crm service list)",
    "bad_email": "{address!r} is not an e-mail address, like ops@example.com",
    "service_ended": "service {service_id} already ended at {at}",
    "end_before_start": "service {service_id} starts at {at}: it cannot end before",
    "trial_not_storage": "a trial is for object storage only (terms B 3)",
    "trial_days": "a trial lasts at least one day",
    "had_trial": "refused: this customer already had a trial (since {since}); terms B 3 grant one",
    "used_storage": "refused: this customer has used object storage since {since}; terms B 3"
    " grant a trial only to customers who never did",
    "trial_pending": "this customer's trial request of {since} is still waiting for a decision",
    "unknown_trial_request": "no trial request {request_id} (see: python -m crm trial list)",
    "trial_decided": "that request was {status} already at {at}",
}


class CliError(Exception):
    pass


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as error:
        raise argparse.ArgumentTypeError(
            f"not an amount: {text!r} (write e.g. 150000.00)"
        ) from error
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not an amount: {text!r}")
    return value


def _moment(text: str) -> str:
    """A local date (YYYY-MM-DD) or date and time (YYYY-MM-DD HH:MM); checked, kept as text."""
    for layout in ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"):
        try:
            datetime.strptime(text, layout)  # noqa: DTZ007 - the zone is the provider's
        except ValueError:
            continue
        return text
    raise argparse.ArgumentTypeError(
        f"not a time: {text!r} (write YYYY-MM-DD or 'YYYY-MM-DD HH:MM', local time)"
    )


def local_moment(text: str, zone: ZoneInfo) -> datetime:
    text = text.replace("T", " ")
    layout = "%Y-%m-%d %H:%M" if " " in text else "%Y-%m-%d"
    return datetime.strptime(text, layout).replace(tzinfo=zone)


def start_of_today(now: datetime, zone: ZoneInfo) -> datetime:
    """Midnight of today in the provider's zone: a service added without --since is active
    from the day's start, never from the minute it was typed in."""
    local = now.astimezone(zone)
    return datetime(local.year, local.month, local.day, tzinfo=zone)


def _site(text: str) -> str:
    site = text.strip()
    if not site or len(site) > 64 or any(c.isspace() for c in site):
        raise argparse.ArgumentTypeError("a site is one word of up to 64 characters, e.g. DC1")
    return site


def _currency(text: str) -> str:
    if len(text) != 3 or not text.isalpha():
        raise argparse.ArgumentTypeError(f"not a currency code: {text!r} (write e.g. KZT)")
    return text.upper()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m crm", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    commands = parser.add_subparsers(dest="command", required=True)

    customer = commands.add_parser("customer", help="customers").add_subparsers(
        dest="action", required=True
    )
    add = customer.add_parser("add", help="add a customer, print its id")
    add.add_argument("name")
    customer.add_parser("list", help="list customers")
    leaves = [add, customer.choices["list"], *_service_commands(commands)]
    leaves += _trial_commands(commands)

    incident = commands.add_parser("incident", help="outage incidents").add_subparsers(
        dest="action", required=True
    )
    incident_import = incident.add_parser(
        "import", help="monitoring history: CSV with service_id, starts_at, ends_at[, ref]"
    )
    incident_import.add_argument("file", type=Path)

    invite = commands.add_parser("invite", help="a link that ties a Telegram account to a customer")
    invite.add_argument("--customer", type=int, help="customer id to invite")
    invite.add_argument("--revoke", metavar="TOKEN", help="revoke an invitation token")

    contact = commands.add_parser("contact", help="customers' e-mail addresses").add_subparsers(
        dest="action", required=True
    )
    contact_add = contact.add_parser(
        "add", help="tie an e-mail address to a customer: its mails open the customer's tickets"
    )
    contact_add.add_argument("--customer", type=int, required=True)
    contact_add.add_argument("--email", required=True, metavar="ADDRESS")
    leaves += [incident_import, invite, contact_add]

    add_report_arguments(commands.add_parser("report", help="the monthly SLA report"))
    add_verify_arguments(
        commands.add_parser("verify", help="recompute the evidence hash chain from the rows")
    )
    add_backup_arguments(
        commands.add_parser("backup", help="a consistent copy of the SQLite database")
    )

    # `--json` is accepted after the command too, where people naturally type it.
    for leaf in leaves:
        leaf.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    return parser


def _service_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> list[argparse.ArgumentParser]:
    service = commands.add_parser("service", help="services of customers").add_subparsers(
        dest="action", required=True
    )
    service_add = service.add_parser("add", help="add a service, print its id")
    service_add.add_argument("--customer", type=int, required=True)
    service_add.add_argument("--type", choices=[t.value for t in ServiceType], required=True)
    service_add.add_argument("--fee", type=_decimal, required=True, help="monthly fee")
    service_add.add_argument("--currency", type=_currency, default="KZT")
    service_add.add_argument("--name")
    service_add.add_argument(
        "--since",
        type=_moment,
        help="active from: local date or 'YYYY-MM-DD HH:MM' (default: the start of today)",
    )
    service_add.add_argument(
        "--trial",
        action="store_true",
        help="object storage on a free trial (terms B 3), paid automatically after it",
    )
    service_add.add_argument(
        "--trial-days", type=int, default=None, help="trial length in calendar days (default 3)"
    )
    service_add.add_argument(
        "--outside-provider-dc",
        action="store_true",
        help="dedicated environment hosted at the client's site (terms A 5.4: no SLA credit)",
    )
    service_add.add_argument(
        "--site", type=_site, help="where it runs, e.g. DC1: an outage of a site gathers them"
    )
    service_site = service.add_parser("site", help="set or clear where a service runs")
    service_site.add_argument("id", type=int)
    where = service_site.add_mutually_exclusive_group(required=True)
    where.add_argument("site", nargs="?", type=_site, help="e.g. DC1")
    where.add_argument("--clear", action="store_true", help="the service has no site")
    service_list = service.add_parser("list", help="list services")
    service_list.add_argument("--customer", type=int)
    service_end = service.add_parser("end", help="the service is switched off (report clips)")
    service_end.add_argument("id", type=int)
    service_end.add_argument("--at", type=_moment, help="local time (default: now)")
    return [service_add, service_list, service_end, service_site]


def _trial_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> list[argparse.ArgumentParser]:
    trial = commands.add_parser("trial", help="object-storage trial requests (B 3)")
    trial_actions = trial.add_subparsers(dest="action", required=True)
    trial_list = trial_actions.add_parser("list", help="trial requests, newest first")
    trial_approve = trial_actions.add_parser("approve", help="grant a requested trial")
    trial_approve.add_argument("id", type=int)
    trial_refuse = trial_actions.add_parser("refuse", help="refuse a requested trial")
    trial_refuse.add_argument("id", type=int)
    trial_refuse.add_argument("--reason", default="", help="optional: B 3 needs none")
    return [trial_list, trial_approve, trial_refuse]


def _customer_dict(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "name": customer.name, "created_at": customer.created_at.isoformat()}


def _utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _service_dict(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "customer_id": service.customer_id,
        "type": service.service_type.value,
        "name": service.name,
        "monthly_fee": f"{service.monthly_fee:.2f}",
        "currency": service.currency,
        "active_from": _utc(service.active_from),
        "active_to": _utc(service.active_to),
        "trial_until": _utc(service.trial_until),
        "in_provider_dc": service.in_provider_dc,
        "site": service.site,
    }


def _get_me(api_url: str, token: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{api_url}/bot{token}/getMe", timeout=30) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


async def resolve_bot_username() -> str:
    """The bot's @username for invitation links: BOT_USERNAME, else asked of the Bot API
    (getMe). Plain HTTP on purpose: the CRM talks to the database, not through the bot."""
    try:
        settings = TelegramSettings()
    except ValidationError as error:
        raise SettingsError(describe_validation_error(error)) from error
    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    if settings.bot_token is None:
        raise SettingsError("configuration error: set BOT_USERNAME or BOT_TOKEN to build the link")
    api_url = settings.telegram_api_url or TELEGRAM_API
    try:
        answer = await asyncio.to_thread(_get_me, api_url, settings.bot_token.get_secret_value())
    except (OSError, ValueError) as error:
        raise SettingsError(f"cannot ask the Bot API for the bot's username: {error}") from error
    username = answer.get("result", {}).get("username") if answer.get("ok") else None
    if not username:
        raise SettingsError("configuration error: the bot has no username; set BOT_USERNAME")
    return str(username)


async def run(args: argparse.Namespace, settings: CrmSettings) -> tuple[dict[str, Any], str]:
    from crm.customers import CustomerService
    from crm.db import make_engine, make_sessionmaker, upgrade_database_async

    await upgrade_database_async(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            result = await _dispatch(args, CustomerService(session), settings)
            await session.commit()
            return result
    finally:
        await engine.dispose()


async def _dispatch(
    args: argparse.Namespace, crm: CustomerService, settings: CrmSettings
) -> tuple[dict[str, Any], str]:
    if args.command == "customer" and args.action == "add":
        customer = await crm.add_customer(args.name)
        return {"customer": _customer_dict(customer)}, str(customer.id)
    if args.command == "customer":
        customers = [_customer_dict(c) for c in await crm.list_customers()]
        lines = [f"{c['id']}\t{c['name']}" for c in customers] or ["no customers yet"]
        return {"customers": customers}, "\n".join(lines)
    if args.command == "service" and args.action in ("add", "end", "site"):
        return await _service_change(args, crm, settings)
    if args.command == "trial":
        return await _trial(args, crm)
    if args.command == "service":
        services = [_service_dict(s) for s in await crm.list_services(args.customer)]
        lines = [
            f"{s['id']}\tcustomer {s['customer_id']}\t{s['type']}\t{s['name']}\t"
            f"{s['monthly_fee']} {s['currency']}"
            + ("" if s["in_provider_dc"] else "\toutside DC")
            + (f"\tsite {s['site']}" if s["site"] else "")
            for s in services
        ] or ["no services"]
        return {"services": services}, "\n".join(lines)
    if args.command == "incident":
        from crm.monitoring import MonitoringInputError, MonitoringService, parse_csv

        try:
            text = args.file.read_text(encoding="utf-8-sig")
        except OSError as error:
            raise CliError(f"cannot read {args.file}: {error.strerror}") from error
        try:
            signals = parse_csv(text, settings.zone)
        except MonitoringInputError as error:
            raise CliError(f"{args.file}: {error}") from error
        applied = await MonitoringService(crm.session).apply(signals)
        rows = [
            {"incident_id": a.incident.id, "service_id": a.signal.service_id, "opened": a.opened}
            for a in applied
        ]
        opened = sum(1 for row in rows if row["opened"])
        return {"incidents": rows}, f"{len(rows)} rows imported, {opened} new incidents"
    if args.command == "contact":
        from crm.contacts import ContactService

        row = await ContactService(crm.session).add_email(args.customer, args.email)
        return (
            {"contact": {"email": row.address, "customer_id": row.customer_id}},
            f"{row.address} → customer {row.customer_id}",
        )
    if args.command == "invite":
        if args.revoke:
            invitation = await crm.revoke_invitation(args.revoke)
            return {"revoked": invitation.token}, f"revoked {invitation.token}"
        if args.customer is None:
            raise CliError("invite needs --customer ID (or --revoke TOKEN)")
        username = await resolve_bot_username()
        invitation = await crm.create_invitation(args.customer)
        link = f"https://t.me/{username}?start={invitation.token}"
        return (
            {"customer_id": args.customer, "token": invitation.token, "link": link},
            f"{link}\n{invitation.token}",
        )
    raise CliError(f"unknown command {args.command}")


async def _service_change(
    args: argparse.Namespace, crm: CustomerService, settings: CrmSettings
) -> tuple[dict[str, Any], str]:
    zone = settings.zone
    if args.action == "site":
        return await _service_site(crm, args.id, None if args.clear else args.site)
    if args.action == "end":
        at = local_moment(args.at, zone) if args.at else None
        ended = await crm.end_service(args.id, at)
        assert ended.active_to is not None
        return {"service": _service_dict(ended)}, f"service {ended.id} ended at " + (
            f"{ended.active_to.astimezone(zone):%Y-%m-%d %H:%M}"
        )
    if args.trial_days is not None and not args.trial:
        raise CliError("--trial-days goes with --trial")
    since = local_moment(args.since, zone) if args.since else start_of_today(crm.clock(), zone)
    trial_days = (args.trial_days or settings.sla_config().trial_days) if args.trial else None
    new_service = await crm.add_service(
        args.customer,
        ServiceType(args.type),
        args.fee,
        currency=args.currency,
        name=args.name,
        active_from=since,
        in_provider_dc=not args.outside_provider_dc,
        trial_days=trial_days,
    )
    if args.site:
        new_service.site = args.site
        await crm.session.flush()
    return {"service": _service_dict(new_service)}, str(new_service.id)


async def _service_site(
    crm: CustomerService, service_id: int, site: str | None
) -> tuple[dict[str, Any], str]:
    service = await crm.session.get(Service, service_id)
    if service is None:
        raise CrmError("unknown_service", service_id=service_id)
    now = crm.clock()
    crm.session.add(
        ServiceEvent(service_id=service.id, kind="site", at=now, recorded_at=now, actor="cli",
                     details={"site": site, "previous": service.site})
    )  # fmt: skip
    service.site = site
    await crm.session.flush()
    said = f"service {service.id} is at site {site}" if site else f"service {service.id}: no site"
    return {"service": _service_dict(service)}, said


def _request_dict(request: TrialRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "customer_id": request.customer_id,
        "requested_at": request.requested_at.isoformat(),
        "status": request.status,
        "decided_at": request.decided_at.isoformat() if request.decided_at else None,
        "reason": request.reason,
        "service_id": request.service_id,
    }


async def _trial(args: argparse.Namespace, crm: CustomerService) -> tuple[dict[str, Any], str]:
    from crm.trials import TrialService

    trials = TrialService(crm.session, crm.clock)
    if args.action == "list":
        requests = [_request_dict(r) for r in await trials.list_requests()]
        lines = [
            f"{r['id']}\tcustomer {r['customer_id']}\t{r['requested_at']}\t{r['status']}"
            for r in requests
        ] or ["no trial requests"]
        return {"trial_requests": requests}, "\n".join(lines)
    approve = args.action == "approve"
    request = await trials.decide(args.id, approve, "cli", "" if approve else args.reason)
    follow = (
        f"; add the service: python -m crm service add --customer {request.customer_id}"
        " --type object_storage --fee FEE --trial"
        if approve
        else ""
    )
    text = f"request {request.id} {request.status}{follow}"
    return {"trial_request": _request_dict(request)}, text


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = CrmSettings()
    except ValidationError as error:
        print(describe_validation_error(error), file=sys.stderr)
        return 2
    if args.command == "report":
        return run_report(args, settings)
    if args.command == "verify":
        return run_verify(args, settings)
    if args.command == "backup":
        return run_backup(args, settings)
    try:
        payload, text = asyncio.run(run(args, settings))
    except CrmError as error:
        params = {
            name: f"{value.astimezone(settings.zone):%Y-%m-%d %H:%M}"
            if isinstance(value, datetime)
            else value
            for name, value in error.params.items()
        }
        message = ERROR_TEXTS.get(error.code, error.code).format(**params)
        return _fail(args, message)
    except (CliError, SettingsError) as error:
        return _fail(args, str(error))
    print(json.dumps(payload, ensure_ascii=False) if args.json else text)
    return 0


def _fail(args: argparse.Namespace, message: str) -> int:
    if args.json:
        print(json.dumps({"error": message}, ensure_ascii=False))
    print(f"error: {message}", file=sys.stderr)
    return 1
