"""Every file of the published contract under ``schemas/``: event schemas, examples and
AsyncAPI (from ``orderstate.events``) and OpenAPI (from ``orderstate.api``); written into a
folder, or compared with it."""

import difflib
from pathlib import Path

from orderstate.api.openapi_export import openapi_json
from orderstate.events.contract import export_contract

__all__ = ["contract_diff", "published_files", "write_contract"]


def published_files() -> dict[str, str]:
    return {**export_contract(), "openapi.json": openapi_json()}


def write_contract(files: dict[str, str], out: Path) -> list[Path]:
    """Write every file and remove stale ones the export no longer produces."""
    written = []
    for relative, text in sorted(files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in _managed_files(out) - set(files):
        (out / stale).unlink()
    return written


def contract_diff(files: dict[str, str], out: Path) -> str:
    """A unified diff from the committed files to the exported ones; empty when identical."""
    chunks: list[str] = []
    for relative in sorted(set(files) | _managed_files(out)):
        path = out / relative
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        new = files.get(relative, "")
        if old != new:
            chunks.extend(
                difflib.unified_diff(
                    old.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    fromfile=f"committed/{relative}",
                    tofile=f"exported/{relative}",
                )
            )
    return "".join(chunks)


def _managed_files(out: Path) -> set[str]:
    # Only what the export owns, so unrelated files in the folder are left alone.
    managed = set()
    for folder in ("jsonschema", "examples"):
        root = out / folder
        if root.exists():
            managed |= {p.relative_to(out).as_posix() for p in root.rglob("*.json")}
    managed |= {name for name in ("asyncapi.yaml", "openapi.json") if (out / name).exists()}
    return managed
