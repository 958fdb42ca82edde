"""`python -m crm report` is the report command; `python -m sla report` an alias of it; the
invitation link's username comes from the Bot API when BOT_USERNAME is not set."""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm.models import Customer, Service
from sla.model import ServiceType

TOKEN = "123456:TEST-TOKEN"
SINCE = datetime(2025, 12, 1, tzinfo=UTC)


def run(package: str, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", package, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    environment = {**os.environ, "DATABASE_URL": database_url}
    for name in ("BOT_TOKEN", "BOT_USERNAME", "TELEGRAM_API_URL"):
        environment.pop(name, None)
    return environment


def test_crm_report_and_the_sla_alias_print_the_same_report(
    tmp_path: Path, env: dict[str, str]
) -> None:
    customer = run("crm", "customer", "add", "Steppe Cloud LLP", cwd=tmp_path, env=env)
    assert customer.returncode == 0, customer.stderr
    args = ("report", "--month", "2026-01", "--format", "json")
    added = run(
        "crm",
        *("service", "add", "--customer", customer.stdout.strip(), "--type", "dedicated"),
        *("--fee", "150000", "--since", "2025-12-01", "--outside-provider-dc"),
        cwd=tmp_path,
        env=env,
    )
    assert added.returncode == 0, added.stderr

    by_crm = run("crm", *args, cwd=tmp_path, env=env)
    by_sla = run("sla", *args, cwd=tmp_path, env=env)

    assert by_crm.returncode == 0, by_crm.stderr
    assert by_sla.returncode == 0, by_sla.stderr
    report = json.loads(by_crm.stdout)
    assert json.loads(by_sla.stdout) == report
    (service,) = report["services"]
    assert service["sla_applies"] is False  # A 5.4: hosted at the client's site


def test_a_bad_month_is_refused_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    result = run("crm", "report", "--month", "2026-13", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: month number must be 01..12, got '2026-13'"


def test_a_json_report_for_an_unknown_customer_is_refused_and_writes_no_file(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Refused while the tickets are being counted on the other connection: the count is
    stopped, and the command says why in one line."""
    customer = run("crm", "customer", "add", "Steppe Cloud LLP", cwd=tmp_path, env=env)
    assert customer.returncode == 0, customer.stderr
    output = tmp_path / "report.json"
    result = run(
        "sla", "report", "--month", "2026-01", "--format", "json", "--customer", "999",
        "--output", str(output), cwd=tmp_path, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no customer with id 999"
    assert not output.exists()


@pytest.fixture
async def many_services(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """A customer with 300 services: a report of some 150 KiB."""
    async with sessionmaker() as session:
        customer = Customer(name="Steppe Cloud LLP", created_at=SINCE)
        session.add(customer)
        await session.flush()
        session.add_all(
            Service(
                customer_id=customer.id,
                service_type=ServiceType.DEDICATED,
                name=f"node-{n}",
                monthly_fee=Decimal(150_000),
                active_from=SINCE,
                created_at=SINCE,
            )
            for n in range(300)
        )
        await session.commit()
    return 300


def test_a_report_that_cannot_be_written_says_so_and_leaves_no_half_file(
    tmp_path: Path, env: dict[str, str], many_services: int
) -> None:
    """A file-size limit (a full disk, a quota) stops the report midway: one line says
    why, and no truncated report is left to be read as a whole one."""
    output = tmp_path / "report.json"
    command = [sys.executable, "-m", "sla", "report", "--month", "2026-01", "--format", "json"]
    # Above what SQLite's reader writes (its 32 KiB shared-memory file), below the report.
    limit = 64 * 1024

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        [*command, "--output", str(output)], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=60, check=False, preexec_fn=small_files,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.strip() == f"error: cannot write {output}: File too large"
    assert not output.exists()
    whole = run("sla", *command[3:], "--output", str(output), cwd=tmp_path, env=env)
    assert whole.returncode == 0, whole.stderr
    assert output.stat().st_size > limit
    assert len(json.loads(output.read_bytes())["services"]) == many_services


def test_a_report_made_while_a_writer_holds_the_lock_reads_on_one_connection(
    tmp_path: Path, env: dict[str, str], many_services: int, database_url: str
) -> None:
    """The tickets are counted aside only when both connections can begin at one moment
    (SQLite: with the write lock held off writers for a moment). A writer that keeps the
    lock is not waited for: the report comes out, read on one connection."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    path = make_url(database_url).database
    assert path is not None
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        args = ("report", "--month", "2026-01", "--format", "json")
        result = run("sla", *args, cwd=tmp_path, env=env)
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["services"]) == many_services


def test_the_sla_alias_runs_only_the_report(tmp_path: Path, env: dict[str, str]) -> None:
    result = run("sla", "customer", "list", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "python -m crm report" in result.stderr


class GetMe(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        known = self.path == f"/bot{TOKEN}/getMe"
        body: dict[str, Any] = (
            {"ok": True, "result": {"id": 1, "is_bot": True, "username": "steppe_support_bot"}}
            if known
            else {"ok": False, "error_code": 404, "description": "Not Found"}
        )
        data = json.dumps(body).encode()
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bot_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), GetMe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_invitation_link_asks_the_bot_api_for_the_username_without_bot_username(
    tmp_path: Path, env: dict[str, str], bot_api: str
) -> None:
    env = {**env, "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": bot_api}
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(proxy, None)  # the fake Bot API is on loopback
    customer = run("crm", "customer", "add", "Steppe Cloud LLP", cwd=tmp_path, env=env)
    invite = run(
        "crm", "invite", "--customer", customer.stdout.strip(), "--json", cwd=tmp_path, env=env
    )
    assert invite.returncode == 0, invite.stderr
    payload = json.loads(invite.stdout)
    assert payload["link"] == f"https://t.me/steppe_support_bot?start={payload['token']}"
