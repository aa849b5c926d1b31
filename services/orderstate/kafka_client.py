"""aiokafka connection options from settings, shared by every client orderstate creates.

Every consumer, producer and admin client is built from ``kafka_options``, so the
security settings (TLS, SASL) apply to all of them alike: a worker cannot talk to
the broker one way and its readiness probe another.
"""

import asyncio
import functools
import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2
from pydantic import SecretStr

from orderstate.settings import Settings

__all__ = [
    "KafkaTlsFilesError",
    "expected_partition",
    "kafka_options",
    "ssl_context",
    "tls_diagnosis",
]

_TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})


class KafkaTlsFilesError(ValueError):
    """The ORDERSTATE_KAFKA_SSL_* files cannot be used; the message names the settings to
    check. Start-up (orderstate.startup) reports it as a StartupError."""


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
    when none is given; presents a client certificate when one is configured (mutual TLS).
    A file that cannot be used is a KafkaTlsFilesError naming the setting, never a traceback."""
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
            password=_reveal(settings.kafka_ssl_key_password),
        )
    except (OSError, ValueError) as exc:
        raise KafkaTlsFilesError(_unusable_tls_files(settings, exc)) from None
    return context


def _unusable_tls_files(settings: Settings, exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError):
        problem = f"{exc.reason or type(exc).__name__}"
        if settings.kafka_ssl_certfile is None:
            return (
                f"ORDERSTATE_KAFKA_SSL_CAFILE {settings.kafka_ssl_cafile} holds no usable "
                f"certificate ({problem})"
            )
        return (
            f"ORDERSTATE_KAFKA_SSL_CAFILE, _CERTFILE or _KEYFILE cannot be used ({problem}): a "
            "PEM CA bundle, the client certificate and its private key, which must match; an "
            "encrypted key needs ORDERSTATE_KAFKA_SSL_KEY_PASSWORD, and the right one"
        )
    return (
        f"the Kafka TLS files cannot be read ({getattr(exc, 'strerror', None) or exc}): check "
        f"ORDERSTATE_KAFKA_SSL_CAFILE ({settings.kafka_ssl_cafile}), _CERTFILE "
        f"({settings.kafka_ssl_certfile}) and _KEYFILE ({settings.kafka_ssl_keyfile})"
    )


async def tls_diagnosis(settings: Settings, *, timeout_s: float = 5.0) -> str | None:
    """Why a TLS connection to the first bootstrap server fails, if it does: aiokafka reports
    only that it could not bootstrap, which hides a certificate that is not trusted."""
    if settings.kafka_security_protocol not in _TLS_PROTOCOLS:
        return None
    host, _, port = settings.kafka_bootstrap_servers.split(",")[0].strip().rpartition(":")
    host = host.strip("[]")
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(
                host, int(port), ssl=ssl_context(settings), server_hostname=host
            )
    except ssl.SSLCertVerificationError as exc:
        return (
            f"the broker's TLS certificate was refused ({exc.verify_message}): check "
            "ORDERSTATE_KAFKA_SSL_CAFILE (the CA that signed the brokers' certificates) and "
            "that the bootstrap host is a name the certificate holds"
        )
    except ssl.SSLError as exc:
        return f"the TLS handshake with the broker failed ({exc.reason or exc})"
    except (OSError, ValueError, TimeoutError):
        return None
    writer.close()
    return None


def _reveal(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


@functools.lru_cache(maxsize=65_536)
def expected_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as the Java client, aiokafka and
    librdkafka's murmur2_random) puts this key in. Cached: it costs ~10 us in pure Python and
    an order's events repeat their key."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)
