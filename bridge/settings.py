"""The one place configuration is read: environment, then the user's config file, then defaults.

The Imagen API key comes from ``IMAGEN_API_KEY`` or ``api_key`` in
``<config dir>/config.toml``. Without one, every command runs against the
built-in emulator, and says so, so a newcomer can try the whole flow offline.
The delivery keys work the same way: ``IMGWIRE_API_KEY`` / ``imgwire_api_key`` and
``IMAGEKIT_PRIVATE_KEY`` / ``imagekit_private_key``; with neither a key nor a base URL set
for a service, delivery to it runs against the built-in emulator.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import platformdirs
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from bridge import APP_NAME

API_KEY_ENV = "IMAGEN_API_KEY"
IMGWIRE_KEY_ENV = "IMGWIRE_API_KEY"
IMAGEKIT_KEY_ENV = "IMAGEKIT_PRIVATE_KEY"
# The unprefixed variables the services' own tools use, and the fields they fill.
_KEY_VARIABLES = {
    API_KEY_ENV: "api_key",
    IMGWIRE_KEY_ENV: "imgwire_api_key",
    IMAGEKIT_KEY_ENV: "imagekit_private_key",
}
CONFIG_DIR_ENV = "IMAGEN_BRIDGE_CONFIG_DIR"
CONFIG_FILE_NAME = "config.toml"
ENV_PREFIX = "IMAGEN_BRIDGE_"
PRODUCTION_BASE_URL = "https://api.imagen-ai.com/v1"
LOOPBACK_NAMES = frozenset({"localhost"})
EMULATOR_NOTICE = (
    "No Imagen API key configured: using the built-in offline emulator. "
    f"Set {API_KEY_ENV} or api_key in the config file to use the real Imagen service."
)


class SettingsError(Exception):
    """Configuration that cannot be used; the message says which file or variable and why."""


def config_dir() -> Path:
    """The user's config folder (overridable for tests and portable installs)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override)
    return platformdirs.user_config_path(APP_NAME, appauthor=False)


def config_file() -> Path:
    return config_dir() / CONFIG_FILE_NAME


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SettingsError(f"Cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"Config file {path} is not valid UTF-8 TOML: {exc}") from exc
    return data


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Reads ``config.toml``; sits below environment variables in priority."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        # Every key goes through: the model forbids extras, so a misspelt key is an error
        # (``load_settings`` names the file and the nearest valid key), never ignored.
        return _read_config_file(config_file())


class _ApiKeyEnvSource(PydanticBaseSettingsSource):
    """``IMAGEN_API_KEY`` (and the delivery services' key variables): the names the services'
    own tools use, without our prefix."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found = {}
        for variable, name in _KEY_VARIABLES.items():
            value = os.environ.get(variable, "").strip()
            if value:
                found[name] = value
        return found


class Settings(BaseSettings):
    """Everything the bridge needs to know about where it runs and whom it talks to."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    api_key: SecretStr | None = None
    base_url: str = PRODUCTION_BASE_URL
    port: int = Field(default=8717, ge=1, le=65535)
    data_dir: Path = Field(
        default_factory=lambda: platformdirs.user_data_path(APP_NAME, appauthor=False)
    )
    max_jobs: int = Field(default=2, ge=1, le=16)
    """Jobs a bridge runs at once; more wait in ``queued``."""
    transfers: int = Field(default=8, ge=1, le=64)
    """Storage connections at once, shared by every job of the process."""
    job_retention_days: int = Field(default=30, ge=1, le=3650)
    """Ended jobs older than this are forgotten (with their default output folders)."""
    # Delivery targets. A base URL of None means the service's own hosts when a key is set
    # and the built-in emulator when not.
    imgwire_api_key: SecretStr | None = None
    imgwire_base_url: str | None = None
    imagekit_private_key: SecretStr | None = None
    imagekit_base_url: str | None = None
    imagekit_max_file_mb: float = Field(default=25.0, gt=0)  # the account plan's limit
    imagekit_custom_metadata: bool = True  # needs fields job, photo, profile in the account

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        value = value.strip()
        check_base_url(value)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _ApiKeyEnvSource(settings_cls),
            env_settings,
            _ConfigFileSource(settings_cls),
        )

    @property
    def uses_emulator(self) -> bool:
        """True when no API key is configured: the embedded emulator stands in for Imagen."""
        return self.api_key is None or not self.api_key.get_secret_value().strip()

    @property
    def api_key_source(self) -> str:
        """Where the key was read from, for a 401 message that tells the user what to fix."""
        return self.key_source("api_key")

    def key_source(self, field: str) -> str:
        """Where the key in ``field`` was read from (never the key itself)."""
        for variable, name in _KEY_VARIABLES.items():
            if name == field and os.environ.get(variable, "").strip():
                return f"the {variable} environment variable"
        prefixed = f"IMAGEN_BRIDGE_{field.upper()}"
        if os.environ.get(prefixed, "").strip():
            return f"the {prefixed} environment variable"
        if field in _read_config_file(config_file()):
            return f"the config file {config_file()}"
        return "no configured source"


def _is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> None:
    """An absolute http(s) URL; plain http only to this machine, where nothing can listen in.

    Raises ValueError with a sentence saying what is wrong (the key would travel in clear
    text over plain http, and a credential in the URL would end up in logs).
    """
    example = f"like {PRODUCTION_BASE_URL}"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"{url!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ValueError(f"{url!r} is not an absolute http(s) URL ({example})")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the URL must not hold a user name or password")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} must not have a query or fragment ({example})")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"{url!r} uses plain http to another machine; the API key would travel "
            "unencrypted: use https (http is allowed for 127.0.0.1, localhost and [::1])"
        )


def _env_name(field: str) -> str | None:
    """The environment variable that set ``field``, if one did (names are case-insensitive)."""
    wanted = {f"{ENV_PREFIX}{field}".upper()}
    if field == "api_key":
        wanted.add(API_KEY_ENV)
    for name, value in os.environ.items():
        if name.upper() in wanted and value.strip():
            return name
    return None


def _known_keys(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """The valid keys at ``path`` (nested settings models included), from the model itself."""
    for part in path:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _describe(error: Any, file_data: dict[str, Any]) -> str:
    """One problem as the user can fix it: where the value came from, which key, what is wrong."""
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc) or "settings"
    top = str(loc[0]) if loc else ""
    if error["type"] == "extra_forbidden":
        valid = _known_keys(Settings, loc[:-1])
        near = difflib.get_close_matches(str(loc[-1]).lower(), valid, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]}?" if near else f"valid keys: {', '.join(valid)}"
        where = f"config file {config_file()}" if top in file_data else "settings"
        return f"{where}: unknown key {key!r} ({hint})"
    message = str(error["msg"]).removeprefix("Value error, ")
    env = _env_name(top) if top else None
    if env is not None:
        return f"{env}: {key}: {message}"
    if top in file_data:
        return f"config file {config_file()}: {key}: {message}"
    return f"{key}: {message}"


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning pydantic's validation errors into one readable SettingsError.

    Each problem names where the value came from (environment variable or config file) and
    the key, so the user knows what to change; a secret value is never repeated.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        file_data = _read_config_file(config_file())
        problems = "; ".join(_describe(err, file_data) for err in exc.errors())
        raise SettingsError(f"Invalid configuration: {problems}") from exc
