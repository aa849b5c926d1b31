"""Markers and the shared fixture plugin; nothing here touches the network by itself."""

from pathlib import Path

import pytest

pytest_plugins = ["tests.support.fixtures"]

_REAL_SERVICES = {
    Path(__file__).parent / "integration",
    Path(__file__).parent / "e2e",
    Path(__file__).parent / "browser",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _REAL_SERVICES & set(item.path.parents):
            item.add_marker(pytest.mark.integration)
