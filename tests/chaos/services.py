"""A Kafka broker and a PostgreSQL server of the fault-injection run's own, on their own ports
and data directory, so that stopping and crashing them disturbs nothing else."""

import contextlib
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ChaosServices"]

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / "deploy" / "local"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass
class ChaosServices:
    """Ports from ORDERSTATE_CHAOS_KAFKA_PORT, ORDERSTATE_CHAOS_KAFKA_CONTROLLER_PORT and
    ORDERSTATE_CHAOS_PG_PORT, so two checkouts on one machine can run the suite at once."""

    # The defaults lie below the kernel's ephemeral range (32768-60999): a port in it can be
    # taken by any outgoing connection's local end while the broker starts.
    root: Path
    kafka_port: int = field(default_factory=lambda: _port("ORDERSTATE_CHAOS_KAFKA_PORT", 29092))
    controller_port: int = field(
        default_factory=lambda: _port("ORDERSTATE_CHAOS_KAFKA_CONTROLLER_PORT", 29093)
    )
    pg_port: int = field(default_factory=lambda: _port("ORDERSTATE_CHAOS_PG_PORT", 25432))

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql://orderstate:orderstate@127.0.0.1:{self.pg_port}/orderstate"

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "ORDERSTATE_LOCAL_DIR": str(self.root),
            "ORDERSTATE_LOCAL_KAFKA_PORT": str(self.kafka_port),
            "ORDERSTATE_LOCAL_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "ORDERSTATE_LOCAL_PG_PORT": str(self.pg_port),
            # PostgreSQL's safe settings: with synchronous_commit off (ORDERSTATE_LOCAL_PG_FAST)
            # an immediate restart loses commits it had acknowledged, as the first runs of this
            # suite showed (a REST write answered 201 was gone).
            "ORDERSTATE_LOCAL_PG_FAST": "0",
        }
        if "KAFKA_HOME" not in os.environ:
            # The jars `make kafka-jars` resolved for this checkout.
            env["KAFKA_HOME"] = str(REPO / ".local" / "kafka")
        return env

    def run(self, script: str, command: str) -> float:
        """Run deploy/local/<script> <command>; return how long it took."""
        started = time.monotonic()
        result = subprocess.run(
            [str(LOCAL / script), command],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"deploy/local/{script} {command} failed:\n{result.stdout}{result.stderr}"
            )
        return time.monotonic() - started

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.run("postgres.sh", "start")
        self.run("kafka.sh", "start")

    def stop(self) -> None:
        for script in ("kafka.sh", "postgres.sh"):
            with contextlib.suppress(RuntimeError):
                self.run(script, "stop")
