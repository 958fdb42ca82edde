"""Graceful stop: finish the update in hand, start no new one, lose none."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class Lifecycle:
    """Counts updates in flight so SIGTERM can wait for them.

    Updates skipped while stopping are safe to skip: their offset was never confirmed
    to Telegram, so the next start receives them again.
    """

    def __init__(self) -> None:
        self.stopping = False
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextmanager
    def handling(self) -> Iterator[None]:
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def drain(self, grace_seconds: float) -> bool:
        """Stops taking updates and waits for those in hand; False if the grace ran out."""
        self.stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=grace_seconds)
        except TimeoutError:
            return False
        return True
