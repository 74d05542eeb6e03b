"""The chat gate admits at most its size at once, in arrival order, and no gate admits all."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from ragops.chat.gate import slot


@dataclass
class Deps:
    gate: asyncio.Semaphore | None


async def run_through(deps: Deps, n: int) -> tuple[list[int], int]:
    entered: list[int] = []
    inside = peak = 0

    async def question(number: int) -> None:
        nonlocal inside, peak
        async with slot(deps):
            entered.append(number)
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    tasks = []
    for number in range(n):
        tasks.append(asyncio.create_task(question(number)))
        await asyncio.sleep(0)  # arrive one after the other
    await asyncio.gather(*tasks)
    return entered, peak


async def test_a_gate_admits_its_size_in_arrival_order() -> None:
    entered, peak = await run_through(Deps(asyncio.Semaphore(2)), 8)
    assert peak == 2
    assert entered == list(range(8))


async def test_no_gate_admits_everyone_at_once() -> None:
    _, peak = await run_through(Deps(None), 8)
    assert peak == 8
