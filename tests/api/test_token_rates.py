"""The per-token rate, counted in each API process and added to Redis in steps: what one
token gets in one second across processes (a real Redis; the second is named by an
injected wall clock, nothing waits)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis.asyncio

from consent_api.throttle import TokenRates


@pytest.fixture
def shared(redis_url: str) -> Iterator[redis.asyncio.Redis]:
    yield redis.asyncio.Redis.from_url(redis_url)


def _processes(client: redis.asyncio.Redis, limit: int, n: int, clock: list[float]
               ) -> list[TokenRates]:
    return [TokenRates(limit, client, "t", wall=lambda: clock[0]) for _ in range(n)]


async def _offer(processes: list[TokenRates], token: str, each: int) -> int:
    """``each`` requests of ``token`` to every process, interleaved; how many admitted."""
    admitted = 0
    for _ in range(each):
        for p in processes:
            admitted += await p.admit(token)
    return admitted


def test_a_small_limit_is_exact_across_processes(shared: redis.asyncio.Redis) -> None:
    clock = [1_000.0]

    async def run() -> tuple[int, int, int]:
        procs = _processes(shared, 5, 2, clock)
        first = await _offer(procs, "tok", 10)
        clock[0] += 1  # the next second
        second = await _offer(procs, "tok", 10)
        other = await _offer(procs, "other-token", 1)
        await shared.aclose()
        return first, second, other

    assert asyncio.run(run()) == (5, 5, 2)


def test_a_large_limit_overshoots_by_at_most_one_step_per_process(
        shared: redis.asyncio.Redis) -> None:
    clock = [2_000.0]

    async def run() -> tuple[int, int]:
        procs = _processes(shared, 200, 3, clock)
        step = procs[0].step
        admitted = await _offer(procs, "tok", 200)
        await shared.aclose()
        return admitted, step

    admitted, step = asyncio.run(run())
    assert step == 10
    assert 200 <= admitted <= 200 + 3 * (step - 1)


def test_a_spray_of_requests_on_one_token_is_refused_after_the_limit_without_redis(
        shared: redis.asyncio.Redis) -> None:
    """Once a process knows the second's budget is spent it refuses on its own."""
    clock = [3_000.0]

    async def run() -> tuple[int, int]:
        [proc] = _processes(shared, 40, 1, clock)
        admitted = await _offer([proc], "tok", 1_000)
        counted = int(await shared.get("t:api:rate:tok:3000") or 0)
        await shared.aclose()
        return admitted, counted

    admitted, counted = asyncio.run(run())
    assert admitted == 40
    assert counted == 40  # the refused 960 never went to Redis
