"""Which Imgwire or ImageKit a delivery talks to, from Settings: the service with its key, a
configured base URL, or (no key and no base URL) an emulator the caller runs."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bridge.delivery.errors import DeliveryAuthError
from bridge.delivery.imagekit import ImagekitClient
from bridge.delivery.imagekit_rules import ImagekitOptions
from bridge.delivery.imgwire import PRODUCTION_URL, ImgwireClient
from bridge.delivery.results import Target
from bridge.settings import IMAGEKIT_KEY_ENV, IMGWIRE_KEY_ENV, Settings

EMULATOR_IMGWIRE_KEY = "sk_emulator"
EMULATOR_IMAGEKIT_KEY = "private_emulator"
_KEY_FIELDS = {"imgwire": "imgwire_api_key", "imagekit": "imagekit_private_key"}
_URL_FIELDS = {"imgwire": "imgwire_base_url", "imagekit": "imagekit_base_url"}
_ENV = {"imgwire": IMGWIRE_KEY_ENV, "imagekit": IMAGEKIT_KEY_ENV}
_NAMES = {"imgwire": "Imgwire", "imagekit": "ImageKit"}


def uses_emulator(settings: Settings, target: Target) -> bool:
    """No key and no base URL configured for ``target``: the built-in emulator stands in."""
    key = getattr(settings, _KEY_FIELDS[target])
    has_key = key is not None and bool(key.get_secret_value().strip())
    return not has_key and getattr(settings, _URL_FIELDS[target]) is None


def emulator_notice(target: Target) -> str:
    return (
        f"No {_NAMES[target]} key configured: delivering to the built-in offline emulator. "
        f"Set {_ENV[target]} or {_KEY_FIELDS[target]} in the config file to deliver for real."
    )


@dataclass(frozen=True)
class Connection:
    base_url: str | None
    key: str
    key_source: str


def connection(settings: Settings, target: Target, *, emulator_url: str | None) -> Connection:
    """Base URL and key for ``target``; a base URL without a key is a clear error."""
    if emulator_url is not None:
        key = EMULATOR_IMGWIRE_KEY if target == "imgwire" else EMULATOR_IMAGEKIT_KEY
        return Connection(emulator_url, key, "the built-in emulator")
    field = _KEY_FIELDS[target]
    secret = getattr(settings, field)
    base_url = getattr(settings, _URL_FIELDS[target])
    if secret is None or not secret.get_secret_value().strip():
        raise DeliveryAuthError(
            f"No {_NAMES[target]} key configured, but {_URL_FIELDS[target]} is set to "
            f"{base_url}: set {_ENV[target]} (or {field} in the config file), or remove the "
            "base URL to use the built-in emulator."
        )
    if target == "imgwire" and base_url is None:
        base_url = PRODUCTION_URL
    return Connection(base_url, secret.get_secret_value(), settings.key_source(field))


def open_client(
    settings: Settings,
    target: Target,
    *,
    emulator_url: str | None = None,
    options: ImagekitOptions | None = None,
    concurrency: int = 4,
    logger: logging.Logger | None = None,
) -> ImgwireClient | ImagekitClient:
    """A client for ``target`` (close it, or use it with ``async with``)."""
    where = connection(settings, target, emulator_url=emulator_url)
    if target == "imgwire":
        assert where.base_url is not None
        return ImgwireClient(
            where.base_url, where.key, key_source=where.key_source, concurrency=concurrency,
            logger=logger,
        )  # fmt: skip
    return ImagekitClient(
        where.key,
        base_url=where.base_url,
        key_source=where.key_source,
        options=options
        or ImagekitOptions(
            max_file_mb=settings.imagekit_max_file_mb,
            custom_metadata=settings.imagekit_custom_metadata,
        ),
        concurrency=concurrency,
        logger=logger,
    )
