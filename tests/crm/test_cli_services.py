"""Services from the managers' command line: the start, the end and the object-storage
trial (terms B 3), run as a real process."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tests.crm.test_cli import crm  # noqa: F401 - the fixture

ALMATY = ZoneInfo("Asia/Almaty")


def ok(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def customer(run, name: str = "Steppe Cloud LLP") -> str:
    return str(ok(run("customer", "add", name, "--json"))["customer"]["id"])


def test_a_service_without_since_starts_at_the_start_of_today_local(crm) -> None:  # noqa: F811
    owner = customer(crm)
    before = datetime.now(ALMATY).date()
    added = ok(crm("service", "add", "--customer", owner, "--type", "dedicated", "--fee", "1",
                   "--json"))["service"]  # fmt: skip
    after = datetime.now(ALMATY).date()
    active_from = datetime.fromisoformat(added["active_from"]).astimezone(ALMATY)
    assert (active_from.hour, active_from.minute, active_from.second) == (0, 0, 0)
    assert before <= active_from.date() <= after


def test_a_service_is_ended_at_a_local_time_and_refused_twice(crm) -> None:  # noqa: F811
    owner = customer(crm)
    args = ("--customer", owner, "--type", "dedicated", "--fee", "150000")
    added = ok(crm("service", "add", *args, "--since", "2026-10-16 09:30", "--json"))["service"]
    assert added["active_from"] == "2026-10-16T04:30:00+00:00"
    ended = ok(crm("service", "end", str(added["id"]), "--at", "2026-10-31 18:00", "--json"))
    assert ended["service"]["active_to"] == "2026-10-31T13:00:00+00:00"
    again = crm("service", "end", str(added["id"]))
    assert again.returncode == 1
    assert "already ended" in again.stderr
    early = ok(crm("service", "add", *args, "--since", "2026-10-16", "--json"))["service"]
    before = crm("service", "end", str(early["id"]), "--at", "2026-10-15")
    assert "cannot end before" in before.stderr


def test_trial_lasts_three_days_and_a_second_one_is_refused_B3(crm) -> None:  # noqa: F811
    owner = customer(crm)
    storage = ("--customer", owner, "--type", "object_storage", "--fee", "60000")
    trial = ok(crm("service", "add", *storage, "--since", "2026-10-05", "--trial", "--json"))
    assert trial["service"]["trial_until"] == "2026-10-07T19:00:00+00:00"  # 10-08 00:00 local
    second = crm("service", "add", *storage, "--trial")
    assert second.returncode == 1
    assert "already had a trial (since 2026-10-05 00:00)" in second.stderr
    listed = ok(crm("trial", "list", "--json"))["trial_requests"]
    assert [(r["status"], r["service_id"]) for r in listed] == [("approved", 1)]


def test_a_customer_who_used_storage_gets_no_trial_and_days_are_set_B3(crm) -> None:  # noqa: F811
    used = customer(crm)
    storage = ("--type", "object_storage", "--fee", "60000")
    ok(crm("service", "add", "--customer", used, *storage, "--since", "2026-01-01"))
    refused = crm("service", "add", "--customer", used, *storage, "--trial")
    assert "has used object storage since" in refused.stderr
    fresh = customer(crm, "Fresh LLP")
    longer = ok(crm("service", "add", "--customer", fresh, *storage, "--since", "2026-10-05",
                    "--trial", "--trial-days", "7", "--json"))  # fmt: skip
    assert longer["service"]["trial_until"] == "2026-10-11T19:00:00+00:00"
    dedicated = crm("service", "add", "--customer", fresh, "--type", "dedicated", "--fee", "1",
                    "--trial")  # fmt: skip
    assert "object storage only" in dedicated.stderr


def test_trial_requests_are_approved_or_refused_once(crm) -> None:  # noqa: F811
    refused = crm("trial", "approve", "5")
    assert "no trial request 5" in refused.stderr
    assert ok(crm("trial", "list", "--json")) == {"trial_requests": []}
    assert datetime.now(UTC)  # the CLI's own clock is the wall clock


def test_a_services_site_is_set_on_adding_changed_and_cleared(crm) -> None:  # noqa: F811
    owner = customer(crm)
    args = ("--customer", owner, "--type", "dedicated", "--fee", "1", "--json")
    added = ok(crm("service", "add", *args, "--site", "DC1"))["service"]
    assert added["site"] == "DC1"
    moved = crm("service", "site", str(added["id"]), "DC2")
    assert moved.returncode == 0 and moved.stdout.strip() == f"service {added['id']} is at site DC2"
    assert "site DC2" in crm("service", "list").stdout
    cleared = ok(crm("service", "site", str(added["id"]), "--clear", "--json"))["service"]
    assert cleared["site"] is None
    assert crm("service", "site", "99", "DC1").returncode == 1
    assert crm("service", "add", *args, "--site", "two words").returncode == 2
