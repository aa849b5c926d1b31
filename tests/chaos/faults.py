"""The faults of a run: a seeded schedule, and each fault carried out and logged with its
time."""

import asyncio
import random
import signal
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg

from tests.chaos.processes import Fleet
from tests.chaos.services import ChaosServices

__all__ = ["Fault", "FaultCounts", "Injector", "schedule"]


@dataclass(frozen=True)
class FaultCounts:
    worker_kill: int = 0
    relay_kill: int = 0
    api_kill: int = 0
    join_leave: int = 0
    freeze: int = 0
    broker_restart: int = 0
    postgres_restart: int = 0
    connection_kill: int = 0

    def kinds(self) -> list[str]:
        return [k for k, n in vars(self).items() for _ in range(n)]


@dataclass
class Fault:
    kind: str
    at: float  # seconds after the run's start
    detail: str = ""
    # When the fault was over (the process restarted, the broker back), seconds after start.
    over: float | None = None


def schedule(
    counts: FaultCounts, *, start: float, end: float, seed: int
) -> list[tuple[float, str]]:
    """The faults in a random order at evenly spread, jittered times between start and end."""
    rng = random.Random(seed)
    kinds = counts.kinds()
    rng.shuffle(kinds)
    step = (end - start) / max(len(kinds), 1)
    return [(start + step * (i + rng.uniform(0.1, 0.6)), kind) for i, kind in enumerate(kinds)]


@dataclass
class Injector:
    fleet: Fleet
    services: ChaosServices
    session_timeout_s: float
    seed: int
    clock: Callable[[], float]
    log: list[Fault] = field(default_factory=list)

    async def run(self, plan: list[tuple[float, str]]) -> None:
        rng = random.Random(self.seed + 1)
        for at, kind in plan:
            delay = at - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            fault = Fault(kind, self.clock())
            self.log.append(fault)
            print(f"chaos: {fault.at:7.1f} s  {kind}", flush=True)  # noqa: T201 -- progress
            await getattr(self, kind)(fault, rng)
            fault.over = self.clock()

    async def _kill_and_restart(self, fault: Fault, rng: random.Random, role: str) -> None:
        procs = [p for p in self.fleet.of(role) if not p.name.startswith("joiner")]
        if not procs:
            fault.detail = f"no {role} alive"
            return
        victim = rng.choice(procs)
        fault.detail = victim.name
        victim.signal(signal.SIGKILL)
        await asyncio.to_thread(self.fleet.reap, victim)
        await asyncio.sleep(1.0)
        self.fleet.restart(victim)

    async def worker_kill(self, fault: Fault, rng: random.Random) -> None:
        await self._kill_and_restart(fault, rng, "worker")

    async def relay_kill(self, fault: Fault, rng: random.Random) -> None:
        await self._kill_and_restart(fault, rng, "relay")

    async def api_kill(self, fault: Fault, rng: random.Random) -> None:
        await self._kill_and_restart(fault, rng, "api")

    async def join_leave(self, fault: Fault, rng: random.Random) -> None:
        """A third worker joins the group (a rebalance), works a while, and leaves (another)."""
        joiner = self.fleet.start("worker", "--ops-port", "0", name="joiner")
        fault.detail = joiner.name
        await asyncio.sleep(15)
        joiner.signal(signal.SIGTERM)
        await asyncio.to_thread(self.fleet.reap, joiner)

    async def freeze(self, fault: Fault, rng: random.Random) -> None:
        """SIGSTOP a worker past the session timeout: its partitions move on, and it wakes up
        a zombie that still believes it owns them."""
        procs = [p for p in self.fleet.of("worker") if not p.name.startswith("joiner")]
        victim = rng.choice(procs)
        fault.detail = victim.name
        victim.signal(signal.SIGSTOP)
        await asyncio.sleep(self.session_timeout_s + 5)
        victim.signal(signal.SIGCONT)

    async def broker_restart(self, fault: Fault, rng: random.Random) -> None:
        took = await asyncio.to_thread(self.services.run, "kafka.sh", "stop")
        await asyncio.sleep(2)
        took += await asyncio.to_thread(self.services.run, "kafka.sh", "start")
        fault.detail = f"down and up in {took:.1f} s"

    async def postgres_restart(self, fault: Fault, rng: random.Random) -> None:
        took = await asyncio.to_thread(self.services.run, "postgres.sh", "crash")
        fault.detail = f"immediate restart in {took:.1f} s"

    async def connection_kill(self, fault: Fault, rng: random.Random) -> None:
        conn = await asyncpg.connect(self.services.database_url)
        try:
            killed = await conn.fetchval(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'orderstate' AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend') t"
            )
        finally:
            await conn.close()
        fault.detail = f"{killed} connections"
