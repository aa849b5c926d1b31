"""Configuration fails fast, with the variable names in the message."""

import pytest
from pydantic import SecretStr, ValidationError

from orderstate.settings import Settings


def _error(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(**values)  # type: ignore[arg-type]
    return str(caught.value)


def test_production_refuses_every_development_default() -> None:
    message = _error(environment="production")
    assert (
        "ORDERSTATE_DATABASE_URL, ORDERSTATE_API_KEY_PEPPER, ORDERSTATE_TOKEN_SECRET must be set "
        "in production" in message
    )


def test_production_with_real_secrets_is_accepted() -> None:
    settings = Settings(
        environment="production",
        database_url=SecretStr("postgresql://app:secret@db.internal:5432/orderstate"),
        api_key_pepper=SecretStr("a-pepper-from-the-secret-store-of-48-bytes-or-so"),
        token_secret=SecretStr("x" * 48),
    )
    assert settings.environment == "production"


def test_short_token_secret_is_refused() -> None:
    assert "ORDERSTATE_TOKEN_SECRET must be at least 32 bytes" in _error(token_secret="short")


def test_short_pepper_is_refused() -> None:
    assert "ORDERSTATE_API_KEY_PEPPER must be at least 32 bytes" in _error(api_key_pepper="p" * 31)


def test_the_development_pepper_is_long_enough_and_refused_in_production() -> None:
    assert len(Settings().api_key_pepper.get_secret_value()) >= 32
    assert "ORDERSTATE_API_KEY_PEPPER" in _error(
        environment="production",
        database_url="postgresql://app:secret@db.internal:5432/orderstate",
        token_secret="x" * 48,
    )


@pytest.mark.parametrize(
    "url",
    [
        # An unencoded '/' in the password: the rest reads as host and port.
        "postgresql://app:se/cret@db:5432/orderstate",
        "mysql://app:secret@db:5432/orderstate",
        "postgresql://app:secret@[::1/orderstate",
    ],
)
def test_a_database_url_that_does_not_parse_is_refused(url: str) -> None:
    assert "ORDERSTATE_DATABASE_URL is not a PostgreSQL URL" in _error(database_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:se%2Fcret@db:5432/orderstate?sslmode=verify-full",
        "postgres://app@db/orderstate",
        "postgresql://app:secret@db1:5432,db2:5433/orderstate",
        "postgresql://app:secret@[::1]:5432/orderstate",
        "postgresql:///orderstate?host=/run/postgresql",
    ],
)
def test_database_urls_libpq_takes_are_accepted(url: str) -> None:
    assert Settings(database_url=SecretStr(url)).database_url.get_secret_value() == url


def test_trusted_proxies_are_addresses_and_networks() -> None:
    settings = Settings(api_trusted_proxies="10.0.0.0/8, 192.168.1.7,fd00::/8")
    assert [str(n) for n in settings.api_trusted_networks] == [
        "10.0.0.0/8",
        "192.168.1.7/32",
        "fd00::/8",
    ]
    assert "'ingress' is not an IP address or CIDR network" in _error(
        api_trusted_proxies="10.0.0.0/8,ingress"
    )


def test_sasl_needs_mechanism_and_credentials() -> None:
    message = _error(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512")
    assert "needs ORDERSTATE_KAFKA_SASL_MECHANISM, _USERNAME and _PASSWORD" in message


def test_tls_files_without_tls_are_refused() -> None:
    message = _error(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_ssl_cafile="/ca.pem",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password="p",
    )
    assert "ORDERSTATE_KAFKA_SSL_CAFILE set, but ORDERSTATE_KAFKA_SECURITY_PROTOCOL" in message


def test_a_heartbeat_not_below_the_session_timeout_is_refused() -> None:
    message = _error(kafka_session_timeout_ms=10_000, kafka_heartbeat_interval_ms=10_000)
    assert "ORDERSTATE_KAFKA_HEARTBEAT_INTERVAL_MS=10000 must be below" in message
    accepted = Settings(kafka_session_timeout_ms=10_000, kafka_heartbeat_interval_ms=3_000)
    assert accepted.kafka_heartbeat_interval_ms == 3_000


@pytest.mark.parametrize(
    "name",
    [
        "outbox_retention_hours",
        "processed_events_retention_days",
        "idempotency_retention_hours",
        "rejected_events_retention_days",
        "alert_retention_days",
    ],
)
def test_a_retention_past_a_century_is_refused(name: str) -> None:
    # 999999 days put the clean-up's cut-off before the year 1: an OverflowError at every
    # start of the relay (and of the monitor), which then never published anything.
    assert "less than or equal to" in _error(**{name: 999_999})


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSTATE_BATCH_MAX_EVENTS", "250")
    monkeypatch.setenv("ORDERSTATE_TOPIC_ORDERS", "acme.orders.v1")
    settings = Settings()
    assert (settings.batch_max_events, settings.topic_orders) == (250, "acme.orders.v1")
