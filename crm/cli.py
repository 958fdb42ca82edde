"""`python -m crm`: the managers' command line for customers, services, invitations and the
monthly SLA report."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from crm.errors import CrmError
from crm.evidence_cli import add_backup_arguments, add_verify_arguments, run_backup, run_verify
from crm.models import Customer, Service, ServiceType
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


def _date(text: str) -> str:
    try:
        datetime.strptime(text, "%Y-%m-%d")  # noqa: DTZ007 - only the format is checked here
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (write YYYY-MM-DD)") from error
    return text


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

    service = commands.add_parser("service", help="services of customers").add_subparsers(
        dest="action", required=True
    )
    service_add = service.add_parser("add", help="add a service, print its id")
    service_add.add_argument("--customer", type=int, required=True)
    service_add.add_argument("--type", choices=[t.value for t in ServiceType], required=True)
    service_add.add_argument("--fee", type=_decimal, required=True, help="monthly fee")
    service_add.add_argument("--currency", type=_currency, default="KZT")
    service_add.add_argument("--name")
    service_add.add_argument("--since", type=_date, help="active from (local date)")
    service_add.add_argument(
        "--outside-provider-dc",
        action="store_true",
        help="dedicated environment hosted at the client's site (terms A 5.4: no SLA credit)",
    )
    service_list = service.add_parser("list", help="list services")
    service_list.add_argument("--customer", type=int)

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

    add_report_arguments(commands.add_parser("report", help="the monthly SLA report"))
    add_verify_arguments(
        commands.add_parser("verify", help="recompute the evidence hash chain from the rows")
    )
    add_backup_arguments(
        commands.add_parser("backup", help="a consistent copy of the SQLite database")
    )

    # `--json` is accepted after the command too, where people naturally type it.
    for leaf in (add, customer.choices["list"], service_add, service_list, incident_import, invite):
        leaf.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    return parser


def _customer_dict(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "name": customer.name, "created_at": customer.created_at.isoformat()}


def _service_dict(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "customer_id": service.customer_id,
        "type": service.service_type.value,
        "name": service.name,
        "monthly_fee": f"{service.monthly_fee:.2f}",
        "currency": service.currency,
        "active_from": service.active_from.isoformat(),
        "in_provider_dc": service.in_provider_dc,
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
    if args.command == "service" and args.action == "add":
        active_from = None
        if args.since:
            active_from = datetime.strptime(args.since, "%Y-%m-%d").replace(tzinfo=settings.zone)
        new_service = await crm.add_service(
            args.customer,
            ServiceType(args.type),
            args.fee,
            currency=args.currency,
            name=args.name,
            active_from=active_from,
            in_provider_dc=not args.outside_provider_dc,
        )
        return {"service": _service_dict(new_service)}, str(new_service.id)
    if args.command == "service":
        services = [_service_dict(s) for s in await crm.list_services(args.customer)]
        lines = [
            f"{s['id']}\tcustomer {s['customer_id']}\t{s['type']}\t{s['name']}\t"
            f"{s['monthly_fee']} {s['currency']}" + ("" if s["in_provider_dc"] else "\toutside DC")
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
        message = ERROR_TEXTS.get(error.code, error.code).format(**error.params)
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
