"""`python -m crm contact add`: an address tied to a customer, as a real process."""

from __future__ import annotations

import json

from tests.crm.test_cli import crm
from tests.db import rows

__all__ = ["crm"]


def test_contact_add_ties_an_address_to_a_customer(crm) -> None:  # type: ignore[no-untyped-def]
    assert crm("customer", "add", "Acme").returncode == 0
    added = crm("contact", "add", "--customer", "1", "--email", "Ops <OPS@Acme.kz>", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout) == {"contact": {"email": "ops@acme.kz", "customer_id": 1}}
    assert rows(crm.database_url, "select address, customer_id from contact_emails") == [
        ("ops@acme.kz", 1)
    ]
    refused = crm("contact", "add", "--customer", "1", "--email", "nobody")
    assert refused.returncode == 1 and "not an e-mail address" in refused.stderr
    unknown = crm("contact", "add", "--customer", "9", "--email", "a@b.kz")
    assert unknown.returncode == 1 and "no customer with id 9" in unknown.stderr
