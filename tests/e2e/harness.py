"""Run the real bot (``python -m bot``) as a subprocess against FakeBotAPI.

Unit tests feed updates into the dispatcher directly; these helpers exist to catch what only
the whole process shows: settings read from the environment, startup/shutdown, migrations,
restarts with the same database, and real HTTP to (a fake) Telegram.

Everything here is async because the fake server lives in the test's event loop: a blocking
wait would freeze the server the bot is talking to.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import aiohttp
import pytest

from tests.db import create_database, drop_database, rows
from tests.fake_bot_api import FakeBotAPI

__all__ = [
    "DEFAULT_ENV",
    "MANAGER_ID",
    "PROJECT_ROOT",
    "SUPPORT_CHAT_ID",
    "BotProcess",
    "BotProcessFactory",
    "bot_process_factory",
    "eventually",
    "fake_api",
    "free_port",
    "wait_until",
]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SUPPORT_CHAT_ID = -1001000000001
MANAGER_ID = 900001
DEFAULT_ENV: dict[str, str] = {
    "SUPPORT_CHAT_ID": str(SUPPORT_CHAT_ID),
    "MANAGER_IDS": str(MANAGER_ID),
    "TIMEZONE": "Asia/Almaty",
    # No HTTP server unless a test asks for one: bots of one test would fight over a port.
    "HTTP_PORT": "0",
}
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0

Check = Callable[[], bool] | Callable[[], Awaitable[bool]]


async def wait_until(
    check: Check, what: str, explain: Callable[[], str], timeout: float = 10.0
) -> None:
    """Poll a condition (usually on the database) without blocking the fake server, which
    lives in this event loop; on timeout, fail with `explain()` (logs, requests seen)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        done = check()
        if inspect.isawaitable(done):
            done = await done
        if done:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting until {what}.\n{explain()}")
        await asyncio.sleep(0.05)


async def eventually(
    check: Check, bot: BotProcess, api: FakeBotAPI, what: str, timeout: float = 10.0
) -> None:
    """`wait_until`, explained by the bot's log tail and the fake Bot API's requests."""
    await wait_until(
        check, what, lambda: f"{bot.tail()}\n--- fake Bot API ---\n{api.describe()}", timeout
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for a bot's HTTP_PORT in webhook mode)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """One bot process configuration; can be started, stopped, killed and started again.

    Restarts keep the same database file and append to the same log files, so a test can
    check what survives a crash or a redeploy.
    """

    def __init__(
        self,
        api: FakeBotAPI,
        tmp_path: Path,
        *,
        env: Mapping[str, str | None] | None = None,
        name: str = "bot",
        command: Sequence[str] | None = None,
        database_path: Path | None = None,
        cwd: Path | None = None,
        database_url: str | None = None,
    ) -> None:
        self.api = api
        self._database_url = database_url
        self.cwd = cwd or PROJECT_ROOT
        self.tmp_path = tmp_path
        self.name = name
        self.command = list(command) if command else [sys.executable, "-m", "bot"]
        self.database_path = database_path or tmp_path / "support.db"
        self.stdout_path = tmp_path / f"{name}.stdout.log"
        self.stderr_path = tmp_path / f"{name}.stderr.log"
        self.extra_env: dict[str, str | None] = dict(env or {})
        self.starts = 0
        self._process: asyncio.subprocess.Process | None = None

    # -- environment ----------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        """SQLAlchemy URL of the bot's database (PostgreSQL when the suite runs on it)."""
        return self._database_url or f"sqlite+aiosqlite:///{self.database_path}"

    def build_env(self) -> dict[str, str]:
        """os.environ + test defaults + per-test overrides (None removes a variable)."""
        env = dict(os.environ)
        env.update(DEFAULT_ENV)
        env.update(
            {
                "BOT_TOKEN": self.api.token,
                "TELEGRAM_API_URL": self.api.base_url,
                "DATABASE_URL": self.database_url,
                "PYTHONUNBUFFERED": "1",
                "PYTHONFAULTHANDLER": "1",
            }
        )
        for key, value in self.extra_env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """PID of the current (or last) process."""
        return self._process.pid if self._process else None

    @property
    def returncode(self) -> int | None:
        """Exit code of the last process; None while it runs (or was never started)."""
        return self._process.returncode if self._process else None

    @property
    def running(self) -> bool:
        """True while the process has not exited."""
        return self._process is not None and self._process.returncode is None

    def _open_logs(self) -> tuple[IO[bytes], IO[bytes]]:
        banner = f"\n===== {self.name} start #{self.starts} =====\n".encode()
        out = self.stdout_path.open("ab")
        err = self.stderr_path.open("ab")
        out.write(banner)
        err.write(banner)
        out.flush()
        err.flush()
        return out, err

    async def start(
        self,
        wait_polling: bool = True,
        *,
        timeout: float = START_TIMEOUT,
        env: Mapping[str, str | None] | None = None,
    ) -> BotProcess:
        """Spawn the bot; with wait_polling, return once it called getUpdates.

        Fails with the process output if it exits first or does not poll within ``timeout``.
        ``env`` adds overrides for this and later starts.
        """
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        if self._process is not None:
            await self._process.wait()  # reap a kill()ed predecessor
        if env:
            self.extra_env.update(env)
        self.starts += 1
        polls_before = self.api.get_updates_calls
        out, err = self._open_logs()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.command,
                cwd=self.cwd,
                env=self.build_env(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        finally:
            out.close()
            err.close()
        if wait_polling:
            await self.wait_polling(after=polls_before, timeout=timeout)
        return self

    async def wait_polling(self, *, after: int = 0, timeout: float = START_TIMEOUT) -> None:
        """Wait until getUpdates was called more than ``after`` times; fail if the bot dies."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.api.get_updates_calls <= after:
            if not self.running:
                raise AssertionError(
                    f"{self.name} exited with code {self.returncode} before polling.\n"
                    f"{self.tail()}\n--- fake Bot API ---\n{self.api.describe()}"
                )
            if loop.time() > deadline:
                raise AssertionError(
                    f"{self.name} did not call getUpdates within {timeout}s.\n"
                    f"{self.tail()}\n--- fake Bot API ---\n{self.api.describe()}"
                )
            await asyncio.sleep(0.05)

    async def wait_http(self, url: str, *, timeout: float = START_TIMEOUT) -> None:
        """Wait until GET ``url`` answers 200 (e.g. /healthz of a bot in webhook mode, which
        never polls); fail with the process output if the bot exits first or times out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_error = "no answer yet"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                try:
                    async with http.get(url) as response:
                        if response.status == 200:
                            return
                        last_error = f"HTTP {response.status}"
                except (aiohttp.ClientError, TimeoutError) as error:
                    last_error = repr(error)
                if not self.running:
                    raise AssertionError(
                        f"{self.name} exited with code {self.returncode} before {url} "
                        f"answered.\n{self.tail()}\n--- fake Bot API ---\n{self.api.describe()}"
                    )
                if loop.time() > deadline:
                    raise AssertionError(
                        f"{url} did not answer 200 within {timeout}s ({last_error}).\n"
                        f"{self.tail()}\n--- fake Bot API ---\n{self.api.describe()}"
                    )
                await asyncio.sleep(0.05)

    async def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Wait for the process to exit by itself; returns the exit code."""
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        try:
            return await asyncio.wait_for(self._process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} still running after {timeout}s.\n{self.tail()}"
            ) from None

    async def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM and wait for a graceful exit; returns the exit code (None if never started).

        A process that ignores SIGTERM for ``timeout`` seconds is killed and the call fails:
        the real deployment would hang on every restart.
        """
        process = self._process
        if process is None:
            return None
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout)
            except TimeoutError:
                process.kill()
                await process.wait()
                raise AssertionError(
                    f"{self.name} did not exit within {timeout}s after SIGTERM; killed it.\n"
                    f"{self.tail()}"
                ) from None
        return process.returncode

    def kill(self) -> None:
        """SIGKILL (a crash: no shutdown hooks run). ``await wait()`` for the exit code."""
        if self.running and self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()

    async def restart(self, *, kill: bool = False, wait_polling: bool = True) -> BotProcess:
        """Stop (or kill) and start again with the same database."""
        if kill:
            self.kill()
            if self._process is not None:
                await self._process.wait()
        else:
            await self.stop()
        return await self.start(wait_polling=wait_polling)

    # -- output ---------------------------------------------------------------------------------

    def stdout(self) -> str:
        """Everything the process(es) wrote to stdout."""
        return _read(self.stdout_path)

    def stderr(self) -> str:
        """Everything the process(es) wrote to stderr (logs usually go here)."""
        return _read(self.stderr_path)

    def output(self) -> str:
        """stdout followed by stderr."""
        return f"--- stdout ---\n{self.stdout()}\n--- stderr ---\n{self.stderr()}"

    def tail(self, lines: int = 60) -> str:
        """The last lines of both streams, for assertion messages."""
        state = "running" if self.running else f"exit code {self.returncode}"
        out = "\n".join(self.stdout().splitlines()[-lines:])
        err = "\n".join(self.stderr().splitlines()[-lines:])
        return (
            f"--- {self.name} ({state}, pid {self.pid}) stdout tail ---\n{out}\n"
            f"--- {self.name} stderr tail ---\n{err}"
        )

    # -- database -------------------------------------------------------------------------------

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run a read-only SQL query on the bot's database (values normalised as SQLite's)."""
        if not self.database_url.startswith("sqlite"):
            return rows(self.database_url, sql, tuple(params))  # type: ignore[arg-type]
        uri = f"file:{self.database_path}?mode=ro"
        with sqlite3.connect(uri, uri=True, timeout=5) as connection:
            return list(connection.execute(sql, params).fetchall())


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


BotProcessFactory = Callable[..., BotProcess]


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    """A started FakeBotAPI with the support chat configured as a forum supergroup."""
    api = FakeBotAPI()
    await api.start()
    api.add_chat(SUPPORT_CHAT_ID, title="Support", is_forum=True)
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
async def bot_process_factory(
    fake_api: FakeBotAPI, tmp_path: Path
) -> AsyncIterator[BotProcessFactory]:
    """Make BotProcess objects bound to tmp_path and fake_api; all are stopped at teardown.

    ``factory(env={...}, name=..., command=None, database_path=None, cwd=None)``, then
    ``await process.start()``. Processes share tmp_path/support.db unless told otherwise.
    """
    created: list[BotProcess] = []
    # One database per test, shared by its processes: a file, or a fresh PostgreSQL database.
    shared_url = create_database(tmp_path)
    shared_url = None if shared_url.startswith("sqlite") else shared_url

    def factory(
        env: Mapping[str, str | None] | None = None,
        *,
        name: str | None = None,
        command: Sequence[str] | None = None,
        database_path: Path | None = None,
        cwd: Path | None = None,
    ) -> BotProcess:
        process = BotProcess(
            fake_api,
            tmp_path,
            env=env,
            name=name or ("bot" if not created else f"bot{len(created) + 1}"),
            command=command,
            database_path=database_path,
            cwd=cwd,
            database_url=None if database_path else shared_url,
        )
        created.append(process)
        return process

    yield factory
    problems = []
    for process in reversed(created):
        try:
            await process.stop()
        except AssertionError as exc:
            problems.append(str(exc))
    if shared_url:
        drop_database(shared_url)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
