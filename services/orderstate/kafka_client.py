"""aiokafka connection options from settings, shared by every client orderstate creates."""

from typing import Any

from orderstate.settings import Settings

__all__ = ["kafka_options"]


def kafka_options(settings: Settings, *, role: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": f"{settings.kafka_client_id}-{role}",
    }
