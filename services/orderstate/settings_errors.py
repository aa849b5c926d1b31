"""A configuration error as one line per setting, never echoing a value.

pydantic's own rendering of a ``ValidationError`` quotes the input: for a check across
several settings that is every ``ORDERSTATE_*`` value at once, secrets included. These lines
carry only the variable's name and what is wrong with it; the messages of orderstate's own
validators never quote a secret either (tests/integration/test_secrets_not_printed.py runs
every command with a secret in every kind of failing configuration).
"""

from collections.abc import Iterable, Mapping
from urllib.parse import unquote

from pydantic import SecretStr, ValidationError
from pydantic_settings import SettingsError

from orderstate.settings import Settings

__all__ = [
    "configuration_problems",
    "redact",
    "redactable",
    "secrets_in_environment",
    "secrets_of",
]

_PREFIX = Settings.model_config.get("env_prefix", "")
# A pydantic message for a ValueError raised by a validator starts with this.
_VALUE_ERROR = "Value error, "
# Shorter values are not searched for: they occur in ordinary words ("orderstate" is the
# development database's password).
_SHORTEST_REDACTED = 8
# The development defaults are published in the repository: nothing to hide.
_DEFAULTS = [
    field.default.get_secret_value()
    for field in Settings.model_fields.values()
    if isinstance(field.default, SecretStr)
]


def configuration_problems(exc: ValidationError | SettingsError) -> list[str]:
    """One line per problem: ``ORDERSTATE_NAME: what is wrong``, or the message of a check
    across settings, which names its settings itself."""
    if isinstance(exc, SettingsError):
        # pydantic-settings names the field and the source, not the value.
        return [str(exc).splitlines()[0]]
    lines = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        message = error["msg"].removeprefix(_VALUE_ERROR)
        fields = [str(part) for part in error["loc"]]
        if fields:
            lines.append(f"{_PREFIX}{fields[0].upper()}: {message}")
        else:
            lines.append(message)
    return lines


def secrets_in_environment(environ: Mapping[str, str]) -> list[str]:
    """The values of the secret settings in ``environ`` (and the database URL's password on
    its own), for ``redact`` when the settings could not be read."""
    values = [
        environ[f"{_PREFIX}{name.upper()}"]
        for name, field in Settings.model_fields.items()
        if _is_secret(field.annotation) and environ.get(f"{_PREFIX}{name.upper()}")
    ]
    return [*values, *_url_password(environ.get(f"{_PREFIX}DATABASE_URL", ""))]


def secrets_of(settings: Settings) -> list[str]:
    """The secret values of ``settings``, for ``redact``."""
    values = [
        value.get_secret_value()
        for name in Settings.model_fields
        if isinstance(value := getattr(settings, name), SecretStr)
    ]
    return [*values, *_url_password(settings.database_url.get_secret_value())]


def redactable(secrets: Iterable[str]) -> list[str]:
    """The values worth replacing, longest first (so a password inside a URL given whole is
    not replaced first): not the published development values, not the shortest."""
    kept = {s for s in secrets if len(s) >= _SHORTEST_REDACTED and s not in _PUBLIC}
    return sorted(kept, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value in it replaced: the last line of defence behind
    messages that are written not to quote values."""
    for secret in redactable(secrets):
        text = text.replace(secret, "[redacted]")
    return text


def _url_password(url: str) -> list[str]:
    password = url.partition("://")[2].rpartition("@")[0].partition(":")[2]
    return [password, unquote(password)] if password else []


_PUBLIC = frozenset([*_DEFAULTS, *(p for url in _DEFAULTS for p in _url_password(url))])


def _is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())
