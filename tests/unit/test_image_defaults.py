"""The image's own environment: a container started without the chart (or with a chart that
forgets ORDERSTATE_ENVIRONMENT) runs in production mode, so it refuses the published
development secrets instead of serving with them."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from orderstate.settings import Settings

DOCKERFILE = Path(__file__).resolve().parents[2] / "deploy" / "Dockerfile"


def _runtime_env() -> dict[str, str]:
    """The ENV of the image's last stage, continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    last_stage = re.split(r"^FROM\s", text, flags=re.M)[-1]
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV\s+(.+)$", last_stage, flags=re.M):
        env.update(re.findall(r"([A-Z_][A-Z0-9_]*)=(\S+)", line))
    return env


def test_the_image_runs_in_production_mode_unless_told_otherwise() -> None:
    assert _runtime_env().get("ORDERSTATE_ENVIRONMENT") == "production"


def test_with_only_the_image_environment_orderstate_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in _runtime_env().items():
        if name.startswith("ORDERSTATE_"):
            monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "ORDERSTATE_API_KEY_PEPPER" in str(caught.value)
    assert "ORDERSTATE_TOKEN_SECRET" in str(caught.value)


def test_the_image_ships_bytecode_because_its_runtime_writes_none() -> None:
    """Without it every process compiles its packages at every start (bench/results-startup.md)."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    build_stage = re.split(r"^FROM\s", text, flags=re.M)[1]
    assert re.search(r"^ENV\s.*\bUV_COMPILE_BYTECODE=1\b", build_stage, flags=re.M)
    assert _runtime_env().get("PYTHONDONTWRITEBYTECODE") == "1"
