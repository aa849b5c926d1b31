"""The long-running commands run on the event loop ORDERSTATE_EVENT_LOOP names."""

import asyncio

import pytest
import uvloop

from orderstate.launch import parts
from orderstate.settings import Settings


@pytest.mark.parametrize(("name", "uv"), [("uvloop", 1), ("asyncio", 0)])
def test_serve_runs_on_the_named_loop(monkeypatch: pytest.MonkeyPatch, name: str, uv: int) -> None:
    async def on_uvloop(*_: object) -> int:
        return int(isinstance(asyncio.get_running_loop(), uvloop.Loop))

    monkeypatch.setattr(parts, "run_parts", on_uvloop)
    assert parts.serve(Settings(event_loop=name), set(), "127.0.0.1", 0) == uv  # type: ignore[arg-type]


def test_uvloop_is_the_default() -> None:
    assert Settings.model_fields["event_loop"].default == "uvloop"
