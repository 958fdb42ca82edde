"""The managers' command line, run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def crm(tmp_path: Path, database_url: str):
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "BOT_USERNAME": "steppe_support_bot",
    }
    env.pop("BOT_TOKEN", None)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crm", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    run.database_url = database_url  # type: ignore[attr-defined]
    return run


def test_customer_service_and_invitation_round_trip(crm) -> None:
    added = crm("customer", "add", "Steppe Cloud LLP", "--json")
    assert added.returncode == 0, added.stderr
    customer_id = json.loads(added.stdout)["customer"]["id"]

    service = crm(
        "service",
        "add",
        "--customer",
        str(customer_id),
        "--type",
        "dedicated",
        "--fee",
        "150000",
        "--since",
        "2026-01-01",
        "--outside-provider-dc",
        "--json",
    )
    assert service.returncode == 0, service.stderr
    listed = json.loads(crm("service", "list", "--customer", str(customer_id), "--json").stdout)
    assert listed["services"] == [
        {
            "id": 1,
            "customer_id": customer_id,
            "type": "dedicated",
            "name": "dedicated",
            "monthly_fee": "150000.00",
            "currency": "KZT",
            "active_from": "2025-12-31T19:00:00+00:00",
            "active_to": None,
            "trial_until": None,
            "in_provider_dc": False,
            "site": None,
        }
    ]

    invite = json.loads(crm("invite", "--customer", str(customer_id), "--json").stdout)
    assert invite["link"] == f"https://t.me/steppe_support_bot?start={invite['token']}"

    plain = crm("customer", "add", "Second")
    assert plain.stdout.strip() == "2"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (
            ["service", "add", "--customer", "9", "--type", "dedicated", "--fee", "1"],
            "no customer with id 9",
        ),
        (["service", "add", "--customer", "1", "--type", "vps", "--fee", "1"], "invalid choice"),
        (
            ["service", "add", "--customer", "1", "--type", "dedicated", "--fee", "lots"],
            "not an amount",
        ),
        (["invite", "--customer", "42"], "no customer with id 42"),
    ],
)
def test_bad_input_is_explained_and_changes_nothing(crm, args: list[str], complaint: str) -> None:
    result = crm(*args)
    assert result.returncode != 0
    assert complaint in result.stderr
    assert json.loads(crm("service", "list", "--json").stdout) == {"services": []}


def test_malformed_setting_is_named_in_one_line(crm, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "crm", "customer", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "DATABASE_URL": "mysql://nope", "TIMEZONE": "Asia/Almaty"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: DATABASE_URL is malformed: must start with sqlite+aiosqlite:// "
        "or postgresql+asyncpg://"
    ]


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({}, "configuration error: BOT_TOKEN is not set (put it in the environment or .env)"),
        ({"BOT_TOKEN": "nonsense"}, "configuration error: BOT_TOKEN is malformed"),
        ({"BOT_TOKEN": "1:A", "SUPPORT_CHAT_ID": "12"}, "configuration error: SUPPORT_CHAT_ID"),
        (
            {"BOT_TOKEN": "1:A", "SUPPORT_CHAT_ID": "-100", "MANAGER_IDS": "1,x"},
            "configuration error: MANAGER_IDS",
        ),
    ],
)
def test_bot_refuses_to_start_with_a_bad_setting(
    tmp_path: Path, env: dict[str, str], line: str
) -> None:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"BOT_TOKEN", "SUPPORT_CHAT_ID", "MANAGER_IDS"}
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **env},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), result.stderr


def test_monitoring_history_is_imported_from_csv_all_or_nothing(crm, tmp_path: Path) -> None:
    crm("customer", "add", "Steppe Cloud LLP")
    crm(
        "service",
        "add",
        "--customer",
        "1",
        "--type",
        "object_storage",
        "--fee",
        "90000",
        "--since",
        "2026-01-01",
    )
    history = tmp_path / "history.csv"
    history.write_text(
        "service_id,starts_at,ends_at,ref\n"
        "1,2026-10-03 10:00,2026-10-03 10:30,probe-1\n"
        "1,2026-10-04T01:00:00Z,,probe-2\n"
    )
    imported = crm("incident", "import", str(history), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == {
        "incidents": [
            {"incident_id": 1, "service_id": 1, "opened": True},
            {"incident_id": 2, "service_id": 1, "opened": True},
        ]
    }
    report = subprocess.run(
        [sys.executable, "-m", "sla", "report", "--month", "2026-10", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "DATABASE_URL": crm.database_url},
    )
    [incident, _ongoing] = json.loads(report.stdout)["services"][0]["incidents"]
    # Local 10:00 in Almaty is 05:00 UTC: a time without an offset is the provider's.
    assert incident["start"].startswith("2026-10-03T05:00:00")

    broken = tmp_path / "broken.csv"
    broken.write_text("service_id,starts_at,ends_at\n1,2026-10-05 10:00,\n2,soon,\n")
    result = crm("incident", "import", str(broken))
    assert result.returncode != 0
    assert "line 3" in result.stderr and "not an ISO 8601 time" in result.stderr
    assert (
        len(json.loads(crm("incident", "import", str(history), "--json").stdout)["incidents"]) == 2
    )  # re-importing the same history joins the same incidents


def test_the_example_env_file_starts_a_configured_bot_settings(tmp_path: Path) -> None:
    """A newcomer copies .env.example, fills the token and the group: nothing else needed."""
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    (tmp_path / ".env").write_text(example.replace("123456:replace-with-your-token", "1:A"))
    clean = {k: v for k, v in os.environ.items() if k.isupper() is False or k in {"PATH", "HOME"}}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bot.settings import load_bot_settings as l; s = l();"
            "print(s.support_chat_id, s.webhook_url, sorted(s.manager_ids))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=clean,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["-1001234567890", "None", "[]"]
