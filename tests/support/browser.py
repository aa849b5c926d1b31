"""The web console in a real browser: Debian's chromium driven by Playwright through its
executable path (Playwright's own browser download is never used), against an ``orderstate
api`` process on a database of the test's own."""

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from orderstate.settings import Settings
from tests.support import processes
from tests.support.pipeline import wait_for

REPO = Path(__file__).resolve().parents[2]


def chromium_path() -> str:
    """Debian's chromium (ORDERSTATE_CHROMIUM names another); a failure saying how to get it
    when there is none, as for Kafka and PostgreSQL: never a skipped test."""
    named = os.environ.get("ORDERSTATE_CHROMIUM")
    found = named or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not Path(found).exists():
        pytest.fail(
            f"chromium not found ({named or 'chromium on PATH'}): run `make prereqs`, which "
            "installs Debian's chromium as root (apt-get install chromium fonts-dejavu-core)",
            pytrace=False,
        )
    return found


def screenshot_dir() -> Path:
    """Where each test leaves its screenshot: .local/screenshots, or ORDERSTATE_SCREENSHOT_DIR
    (docs/console regenerates the README's pictures)."""
    folder = Path(os.environ.get("ORDERSTATE_SCREENSHOT_DIR", REPO / ".local" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class RunningApi:
    base_url: str
    settings: Settings


@asynccontextmanager
async def api_process(
    database_url: str, kafka_bootstrap: str, log: Path
) -> AsyncIterator[RunningApi]:
    """``orderstate api`` (which serves the console) on a free port until the block ends."""
    settings = Settings(
        database_url=SecretStr(database_url), kafka_bootstrap_servers=kafka_bootstrap
    )
    async with processes.api_process(settings, log) as api:

        async def ready() -> bool:
            if api.process.returncode is not None:
                raise AssertionError(f"orderstate api exited ({api.process.returncode}); see {log}")
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    return (await client.get(f"{api.base_url}/ui/login")).status_code == 200
            except httpx.HTTPError:
                return False

        # Start-up imports take seconds on a loaded machine.
        await wait_for(ready, timeout_s=120)
        yield RunningApi(api.base_url, settings)
