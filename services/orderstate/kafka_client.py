"""aiokafka connection options from settings, shared by every client orderstate creates.

Every consumer, producer and admin client is built from ``kafka_options``, so the
security settings (TLS, SASL) apply to all of them alike: a worker cannot talk to
the broker one way and its readiness probe another.
"""

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr

from orderstate.settings import Settings

__all__ = ["kafka_options", "ssl_context"]

_TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})


def kafka_options(settings: Settings, *, role: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": f"{settings.kafka_client_id}-{role}",
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in _TLS_PROTOCOLS:
        options["ssl_context"] = ssl_context(settings)
    if settings.kafka_security_protocol.startswith("SASL_"):
        # Settings refuses a SASL protocol without mechanism, user name and password.
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = _reveal(settings.kafka_sasl_password)
    return options


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Verifies the brokers (and their host names) against the CA file, or the system CAs
    when none is given; presents a client certificate when one is configured (mutual TLS)."""
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
        password=_reveal(settings.kafka_ssl_key_password),
    )
    return context


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
