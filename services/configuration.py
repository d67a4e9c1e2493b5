"""The one way every program of the pipeline reads its configuration: a typed settings class built from the
environment (and, for some, `.env`), validated before any I/O, and one readable line when a value is bad.

The producer, the simulator, the Spark job and the local runtime each subclass `PipelineSettings`; a bad
value stops them with `<program>: invalid configuration: <VARIABLE>: <reason>` on stderr and exit status 2,
never echoing a secret (the value of any `SecretStr` field, wherever it came from).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, ClassVar, NoReturn, Self

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

EXIT_CONFIG = 2
"""The exit status of a program stopped by a bad setting (as a shell's usage errors)."""
SECRETS_DIR_VARIABLE = "PIPELINE_SECRETS_DIR"
"""A folder of secret files, one per setting, named after the field (`kafka_sasl_password`): how passwords
reach a program without an environment variable, a command line or an Airflow template holding them."""


class ConfigError(Exception):
    """A setting is invalid; the message is one line naming the variable and is safe to print."""


class PipelineSettings(BaseSettings):
    """Base of every settings class. Field names are the environment variables, lower-cased (or the
    field's `validation_alias`); empty variables mean the default; unknown variables are ignored."""

    model_config = SettingsConfigDict(
        case_sensitive=False, env_ignore_empty=True, extra="ignore", frozen=True
    )

    show_values: ClassVar[bool] = True
    """Whether an error line quotes the bad value (never for a secret). Off where any value may be one."""

    @classmethod
    def environment_variables(cls) -> dict[str, str]:
        """Field name -> the environment variable it is read from (its alias, else its name upper-cased)."""
        return {
            name: field.validation_alias.upper() if isinstance(field.validation_alias, str) else name.upper()
            for name, field in cls.model_fields.items()
        }

    @classmethod
    def secret_variables(cls) -> tuple[str, ...]:
        """The environment variables of this class's `SecretStr` fields."""
        variables = cls.environment_variables()
        return tuple(variables[name] for name, f in cls.model_fields.items() if _is_secret(f.annotation))

    @classmethod
    def load(cls, **values: Any) -> Self:
        """The settings from the environment (`values` win); raises `ConfigError` with one line."""
        secrets = [os.environ.get(name, "") for name in cls.secret_variables()]
        secret_fields = {name for name, f in cls.model_fields.items() if _is_secret(f.annotation)}
        secrets += [
            str(value.get_secret_value() if isinstance(value, SecretStr) else value)
            for name, value in values.items()
            if name in secret_fields or isinstance(value, SecretStr)
        ]
        secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE)
        if secrets_dir:
            if not os.path.isdir(secrets_dir):
                raise ConfigError(f"{SECRETS_DIR_VARIABLE}: {secrets_dir} is not a folder")
            secrets += _file_secrets(secrets_dir)
        try:
            return cls(**values, _secrets_dir=secrets_dir or None)
        except ValidationError as error:
            line = error_line(error, cls.secret_variables(), cls.show_values)
        except SettingsError as error:
            line = str(error)
        raise ConfigError(redact(line, secrets))

    @classmethod
    def load_or_exit(cls, program: str) -> Self:
        """`load()`, or print `<program>: invalid configuration: ...` to stderr and exit with status 2."""
        try:
            return cls.load()
        except ConfigError as error:
            exit_on_config_error(program, error)


def exit_on_config_error(program: str, error: ConfigError) -> NoReturn:
    """Prints the one line of a configuration error for `program` and exits with status 2."""
    sys.stderr.write(f"{program}: invalid configuration: {error}\n")
    raise SystemExit(EXIT_CONFIG)


def error_line(error: ValidationError, secret_variables: Iterable[str] = (), show_values: bool = True) -> str:
    """Each bad variable and why, in one line: `NAME: reason (got 'value')`; secrets' values never shown."""
    hidden = {name.upper() for name in secret_variables}
    parts = []
    for item in error.errors(include_url=False):
        name = ".".join(str(part) for part in item["loc"]).upper()
        reason = item["msg"].removeprefix("Value error, ")
        shown = item.get("input")
        if show_values and name and name not in hidden and isinstance(shown, str | int | float):
            reason += f" (got {str(shown)[:100]!r})"
        parts.append(f"{name}: {reason}" if name else reason)
    return "; ".join(parts).replace("\n", " ")


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-empty secret replaced by ***."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _file_secrets(folder: str) -> list[str]:
    """The values of the secret files in `folder`, so an error line can never echo one."""
    values = []
    for entry in os.scandir(folder):
        if entry.is_file():
            with open(entry.path, encoding="utf-8") as secret:
                values.append(secret.read().strip())
    return values


def _is_secret(annotation: object) -> bool:
    if annotation is SecretStr:
        return True
    return any(_is_secret(argument) for argument in getattr(annotation, "__args__", ()))
