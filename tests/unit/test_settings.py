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
        api_key_pepper=SecretStr("a-pepper-from-the-secret-store"),
        token_secret=SecretStr("x" * 48),
    )
    assert settings.environment == "production"


def test_short_token_secret_is_refused() -> None:
    assert "ORDERSTATE_TOKEN_SECRET must be at least 32 bytes" in _error(token_secret="short")


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


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSTATE_BATCH_MAX_EVENTS", "250")
    monkeypatch.setenv("ORDERSTATE_TOPIC_ORDERS", "acme.orders.v1")
    settings = Settings()
    assert (settings.batch_max_events, settings.topic_orders) == (250, "acme.orders.v1")
