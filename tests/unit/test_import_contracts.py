"""The import-linter contracts in pyproject.toml cover the whole package, and hold.

A module the layers contract does not name is not checked by it, and import-linter does not
see a directory without ``__init__.py`` at all: both would let a wrong import through
silently, so each is a failure here.
"""

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "services" / "orderstate"


def _contracts() -> list[dict[str, Any]]:
    with (REPO / "pyproject.toml").open("rb") as f:
        contracts: list[dict[str, Any]] = tomllib.load(f)["tool"]["importlinter"]["contracts"]
    return contracts


def _contract(kind: str, source: str | None = None) -> dict[str, Any]:
    found = [
        c
        for c in _contracts()
        if c["type"] == kind and (source is None or c.get("source_modules") == [source])
    ]
    assert len(found) == 1, f"expected one {kind} contract for {source}, found {len(found)}"
    return found[0]


def _top_level_modules() -> set[str]:
    names = {f"orderstate.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {
        f"orderstate.{p.name}" for p in PACKAGE.iterdir() if p.is_dir() and any(p.rglob("*.py"))
    }
    return names


def test_every_directory_with_python_code_is_a_regular_package() -> None:
    missing = sorted(
        str(d.relative_to(REPO))
        for d in [PACKAGE, *PACKAGE.rglob("*")]
        if d.is_dir() and any(d.glob("*.py")) and not (d / "__init__.py").exists()
    )
    assert missing == [], f"add an __init__.py to {missing}: import-linter cannot see them"


def test_the_layers_name_every_top_level_module_once() -> None:
    layers = _contract("layers")["layers"]
    named = [module.strip() for layer in layers for module in layer.replace(":", "|").split("|")]
    assert sorted(named) == sorted(set(named)), "a module is in two layers"
    assert set(named) == _top_level_modules()


def test_the_domain_contract_forbids_every_other_module_of_orderstate() -> None:
    forbidden = _contract("forbidden", "orderstate.domain")["forbidden_modules"]
    ours = {m for m in forbidden if m.startswith("orderstate.")}
    assert ours == _top_level_modules() - {"orderstate.domain"}


def test_the_contracts_are_kept() -> None:
    """Layers, a pure domain and no import cycle: ``lint-imports`` over the real graph."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No import cycles anywhere in orderstate KEPT" in done.stdout
