"""Reading Imagen's response bodies: envelopes, error shapes, and their many variants."""

from __future__ import annotations

import json
from typing import Any

MAX_MESSAGE_CHARS = 500


def unwrap(payload: Any) -> Any:
    """``{"data": X}`` -> ``X`` when ``data`` is the only key; anything else as it is.

    Production answers bare payloads; the documented and older servers wrap
    them. ``{"data": ..., "other": ...}`` is a payload that happens to have a
    ``data`` field, so it is left alone.
    """
    if isinstance(payload, dict) and set(payload) == {"data"}:
        return payload["data"]
    return payload


def error_message(body: bytes) -> str | None:
    """The server's own words from an error body, whatever shape it uses.

    ``{"error": {"message": ...}}`` (production), ``{"error": "..."}``,
    ``{"detail": ...}`` (FastAPI style, also lists of validation problems),
    ``{"message": ...}``, each possibly inside ``{"data": ...}``; else the raw
    text. Shortened to a readable length.
    """
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        payload = unwrap(json.loads(text))
    except ValueError:
        return _shorten(text)
    found = _message_in(payload)
    return _shorten(found if found else text)


def _message_in(payload: Any) -> str | None:
    if isinstance(payload, str):
        return payload
    if not isinstance(payload, dict):
        return None
    error = payload.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str) and error:
        return error
    detail = payload.get("detail")
    if isinstance(detail, str) and detail:
        return detail
    if isinstance(detail, list) and detail:
        return "; ".join(_describe_detail(item) for item in detail)
    message = payload.get("message")
    if isinstance(message, str) and message:
        return message
    return None


def _describe_detail(item: Any) -> str:
    if isinstance(item, dict) and "msg" in item:
        where = ".".join(str(part) for part in item.get("loc", []) if part != "body")
        return f"{where}: {item['msg']}" if where else str(item["msg"])
    return str(item)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"
