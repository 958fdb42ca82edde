"""Telegram's send limits as budgets the outbox draws on: in this process, or in Redis.

Telegram lets a bot send about 30 messages a second overall, one a second to a private chat
and 20 a minute to a group (all its forum topics together). A send takes its place in every
window when the worker chooses it, and is stamped again when the request leaves and when
Telegram's answer comes back: Telegram counts it at some moment in between, unknown to us, so
it holds its place from its reservation until a full window after the answer. However slow
the network or the machine, no window Telegram measures holds more than the budget.

- `RateLimiter` keeps the windows in this process (one instance, the SQLite default). A
  restart starts it empty, so the worker seeds it with what the outbox sent in the last
  minute (`seed`): a restart does not spend the group's minute twice.
- `RedisRateLimiter` keeps them in Redis (REDIS_URL), shared by every instance of the desk
  and surviving a restart. One Lua script checks and reserves a whole round's candidates
  atomically, in one round trip: two instances never both take a group's last slot.
"""

from __future__ import annotations

import heapq
import itertools
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger()

# How long a Redis hiccup holds every send back: fail closed, never send blind.
REDIS_RETRY_SECONDS = 1.0


@dataclass(frozen=True)
class RateLimits:
    """Telegram's published limits (configurable, since they change and tests need speed)."""

    overall_per_second: float = 30
    private_per_second: float = 1
    group_per_minute: float = 20

    def window(self, chat_id: int) -> tuple[float, float]:
        """The chat's window in seconds and how many sends it holds."""
        if chat_id < 0:
            return 60.0, self.group_per_minute
        return 1.0, self.private_per_second


class Reservation(Protocol):
    """One reserved send's place in its windows."""

    async def restamp(self) -> None:
        """The request leaves, or its answer came back: the place holds from now on."""
        ...

    async def release(self) -> None:
        """The send did not happen (another instance took the row): the place is free."""
        ...


@dataclass(frozen=True)
class Grant:
    """One candidate's answer: a reservation, or the seconds until one would fit."""

    wait: float
    reservation: Reservation | None = None


class Limiter(Protocol):
    limits: RateLimits

    async def reserve(self, chat_ids: Sequence[int]) -> list[Grant]:
        """Reserves a send to each chat in turn where every budget allows it (a chat may
        repeat: each entry is one send); the others get the seconds until one would fit."""
        ...

    async def seed(self, sent: Iterable[tuple[int, float]]) -> None:
        """Sends made before this process started, as (chat id, seconds ago)."""
        ...

    @property
    def shared(self) -> bool:
        """True when the windows outlive the process (nothing to seed)."""
        ...

    async def close(self) -> None: ...


class _Stamp:
    """One send's place: its latest stamp, and whether each of its two windows still
    counts it (a window forgets it once it is a span old, or when it is released)."""

    __slots__ = ("at", "in_chat", "in_overall")

    def __init__(self, at: float) -> None:
        self.at = at
        self.in_overall = True
        self.in_chat = True


class _Window:
    """The sends one budget counts, as a heap of (stamp, order, send).

    A restamp pushes the send again with its new stamp; the older entry is stale and is
    dropped when it reaches the top. So each check pops only what left the window since the
    last one (amortised O(log n) per send), instead of scanning every send in the window.
    """

    __slots__ = ("heap", "live", "overall", "span")

    def __init__(self, span: float, overall: bool) -> None:
        self.span = span
        self.heap: list[tuple[float, int, _Stamp]] = []
        self.live = 0
        self.overall = overall

    def counts(self, stamp: _Stamp) -> bool:
        return stamp.in_overall if self.overall else stamp.in_chat

    def forget(self, stamp: _Stamp) -> None:
        if self.counts(stamp):
            if self.overall:
                stamp.in_overall = False
            else:
                stamp.in_chat = False
            self.live -= 1

    def push(self, stamp: _Stamp, order: int) -> None:
        heapq.heappush(self.heap, (stamp.at, order, stamp))

    def expire(self, now: float) -> None:
        heap = self.heap
        span = self.span
        while heap and not now - heap[0][0] < span:
            at, _order, stamp = heapq.heappop(heap)
            if at == stamp.at:  # its latest entry: the send leaves the window
                self.forget(stamp)
            # else a stale entry: the send was restamped and is still in the heap

    def wait(self, now: float, allowed: float) -> float:
        """Seconds until one more send fits this window (0 or less: now)."""
        self.expire(now)
        if self.live < allowed:
            return 0.0
        # Full: only at the budget, so the window holds about `allowed` sends.
        times = sorted(
            at for at, _order, stamp in self.heap if at == stamp.at and self.counts(stamp)
        )
        return times[len(times) - int(allowed)] + self.span - now


class RateLimiter:
    """Sliding windows in this process: overall per second, per private chat per second,
    per group per minute."""

    shared = False

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._overall = _Window(1.0, overall=True)
        self._chats: dict[int, _Window] = {}
        self._order = itertools.count()

    def _chat(self, chat_id: int) -> _Window:
        window = self._chats.get(chat_id)
        if window is None:
            window = self._chats[chat_id] = _Window(self.limits.window(chat_id)[0], overall=False)
        return window

    def wait_time(self, chat_id: int) -> float:
        """Seconds until one more message to this chat fits every budget (0: now)."""
        now = self.clock()
        wait = max(
            0.0,
            self._overall.wait(now, self.limits.overall_per_second),
            self._chat(chat_id).wait(now, self.limits.window(chat_id)[1]),
        )
        chat = self._chats[chat_id]
        if not chat.live:
            del self._chats[chat_id]  # nothing in its window: a chat written to once costs nothing
        return wait

    def record(self, chat_id: int, at: float | None = None) -> Callable[[], None]:
        """Reserves a send now (or at `at`); call the result when the request leaves and
        when its answer comes back."""
        stamp = self._take(chat_id, self.clock() if at is None else at)
        return partial(self._restamp, chat_id, stamp)

    def _take(self, chat_id: int, at: float) -> _Stamp:
        stamp = _Stamp(at)
        order = next(self._order)
        self._overall.push(stamp, order)
        self._overall.live += 1
        chat = self._chat(chat_id)
        chat.push(stamp, order)
        chat.live += 1
        return stamp

    def _restamp(self, chat_id: int, stamp: _Stamp) -> None:
        now = self.clock()
        if now <= stamp.at:
            return
        stamp.at = now
        # Still counted where it was not yet forgotten; its older entries go stale.
        order = next(self._order)
        if stamp.in_overall:
            self._overall.push(stamp, order)
        if stamp.in_chat:
            self._chat(chat_id).push(stamp, order)

    def _forget(self, chat_id: int, stamp: _Stamp) -> None:
        self._overall.forget(stamp)
        chat = self._chats.get(chat_id)
        if chat is not None:
            chat.forget(stamp)

    async def reserve(self, chat_ids: Sequence[int]) -> list[Grant]:
        grants = []
        for chat_id in chat_ids:
            wait = self.wait_time(chat_id)
            if wait > 0:
                grants.append(Grant(wait))
                continue
            stamp = self._take(chat_id, self.clock())
            grants.append(Grant(0.0, _Cell(self, chat_id, stamp)))
        return grants

    async def seed(self, sent: Iterable[tuple[int, float]]) -> None:
        now = self.clock()
        for chat_id, ago in sent:
            self._take(chat_id, now - max(ago, 0.0))

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class _Cell:
    limiter: RateLimiter
    chat_id: int
    stamp: _Stamp

    async def restamp(self) -> None:
        self.limiter._restamp(self.chat_id, self.stamp)

    async def release(self) -> None:
        self.limiter._forget(self.chat_id, self.stamp)


# KEYS: the overall window, then one window per candidate (a chat may repeat).
# ARGV: now ("" for the server's clock), a member id prefix, the overall span and budget,
# then each candidate's span and budget. Returns each candidate's wait ("0": reserved) and,
# first, the time it used, so restamps and reservations share one clock.
RESERVE = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local prefix = ARGV[2]
local spans = {tonumber(ARGV[3])}
local budgets = {tonumber(ARGV[4])}
for i = 2, #KEYS do
  spans[i] = tonumber(ARGV[3 + 2 * (i - 1)])
  budgets[i] = tonumber(ARGV[4 + 2 * (i - 1)])
end
for i = 1, #KEYS do
  budgets[i] = math.max(1, math.floor(budgets[i]))
end
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - spans[i])
end
local function wait_for(i)
  local count = redis.call('ZCARD', KEYS[i])
  if count < budgets[i] then
    return 0
  end
  local oldest = redis.call('ZRANGE', KEYS[i], count - budgets[i], count - budgets[i],
    'WITHSCORES')
  return tonumber(oldest[2]) + spans[i] - now
end
local result = {tostring(now)}
for i = 2, #KEYS do
  local wait = math.max(wait_for(1), wait_for(i), 0)
  if wait > 0 then
    result[i] = tostring(wait)
  else
    local member = prefix .. ':' .. tostring(i)
    redis.call('ZADD', KEYS[1], now, member)
    redis.call('ZADD', KEYS[i], now, member)
    redis.call('PEXPIRE', KEYS[1], math.ceil(spans[1] * 1000) + 1000)
    redis.call('PEXPIRE', KEYS[i], math.ceil(spans[i] * 1000) + 1000)
    result[i] = '0'
  end
end
return result
"""

# KEYS: the overall window and the chat's. ARGV: now ("" for the server's clock), the
# member, the two spans. Moves the member's stamp forward (never back) where it still is.
RESTAMP = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], 'GT', 'XX', now, ARGV[2])
  redis.call('PEXPIRE', KEYS[i], math.ceil(tonumber(ARGV[2 + i]) * 1000) + 1000)
end
return 1
"""


class RedisRateLimiter:
    """The same windows as sorted sets in Redis, shared by every instance of one bot.

    Each window is a sorted set of sends scored by their latest stamp; the Lua scripts run
    atomically in Redis, so a check and its reservation cannot be split by another instance.
    Time is Redis's own clock unless a test passes one, so instances need not agree on theirs.
    """

    shared = True

    def __init__(
        self,
        redis: Redis,
        limits: RateLimits,
        namespace: str,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.redis = redis
        self.limits = limits
        self.namespace = namespace
        self.clock = clock
        self._reserve: Any = redis.register_script(RESERVE)
        self._restamp: Any = redis.register_script(RESTAMP)
        self._instance = uuid.uuid4().hex
        self._counter = itertools.count()

    @classmethod
    def from_url(
        cls, url: str, limits: RateLimits, namespace: str, clock: Callable[[], float] | None = None
    ) -> RedisRateLimiter:
        return cls(Redis.from_url(url), limits, namespace, clock)

    def _key(self, chat_id: int | None) -> str:
        if chat_id is None:
            return f"{self.namespace}:overall"
        return f"{self.namespace}:chat:{chat_id}"

    def _now(self) -> str:
        return "" if self.clock is None else repr(self.clock())

    async def reserve(self, chat_ids: Sequence[int]) -> list[Grant]:
        if not chat_ids:
            return []
        prefix = f"{self._instance}:{next(self._counter)}"
        args: list[Any] = [self._now(), prefix, 1.0, self.limits.overall_per_second]
        for chat_id in chat_ids:
            args += self.limits.window(chat_id)
        keys = [self._key(None), *(self._key(chat_id) for chat_id in chat_ids)]
        try:
            result = await self._reserve(keys=keys, args=args)
        except RedisError as error:
            log.warning("rate_limits_unavailable", error=repr(error))
            return [Grant(REDIS_RETRY_SECONDS) for _ in chat_ids]
        grants = []
        for index, (chat_id, wait) in enumerate(zip(chat_ids, result[1:], strict=True)):
            seconds = float(wait)
            if seconds > 0:
                grants.append(Grant(seconds))
                continue
            member = f"{prefix}:{index + 2}"
            grants.append(Grant(0.0, _Member(self, chat_id, member)))
        return grants

    async def seed(self, sent: Iterable[tuple[int, float]]) -> None:
        return None  # The windows are in Redis: they outlived the restart.

    async def close(self) -> None:
        await self.redis.aclose()


@dataclass(frozen=True)
class _Member:
    limiter: RedisRateLimiter
    chat_id: int
    member: str

    @property
    def keys(self) -> list[str]:
        return [self.limiter._key(None), self.limiter._key(self.chat_id)]

    async def restamp(self) -> None:
        spans = (1.0, self.limiter.limits.window(self.chat_id)[0])
        try:
            await self.limiter._restamp(
                keys=self.keys, args=[self.limiter._now(), self.member, *spans]
            )
        except RedisError as error:
            # The reservation still holds its place for a window from when it was made.
            log.warning("rate_limits_restamp_failed", error=repr(error))

    async def release(self) -> None:
        try:
            async with self.limiter.redis.pipeline(transaction=False) as pipe:
                for key in self.keys:
                    pipe.zrem(key, self.member)
                await pipe.execute()
        except RedisError as error:
            log.warning("rate_limits_release_failed", error=repr(error))  # held for a window
