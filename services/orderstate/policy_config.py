"""Read the per-shop policy tables named by ``ORDERSTATE_POLICY_FILE`` (JSON or YAML)."""

import json
from pathlib import Path

import yaml

from orderstate.domain import PolicyBook, PolicyError, load_policy_book

__all__ = ["read_policy_book"]


def read_policy_book(path: Path | None) -> PolicyBook:
    if path is None:
        return PolicyBook()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"policy file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise PolicyError(f"policy file {path} is not valid JSON/YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {path} must hold a mapping with 'default' and/or 'shops'")
    return load_policy_book(data)
