"""Field checks shared by the handlers; each failure is a 400 naming the field."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from lynn_mcp.sandbox.errors import ApiError

CHANNELS = ("WhatsApp", "SMS", "Voice", "Email")
PHONE_CHANNELS = ("WhatsApp", "SMS", "Voice")
_PHONE = re.compile(r"[0-9]{8,15}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def is_uuid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def is_phone(value: Any) -> bool:
    return isinstance(value, str) and _PHONE.fullmatch(value) is not None


def phone_error(value: Any) -> str | None:
    """Why ``value`` is not a phone number (digits only, 8..15 of them), or None if it is."""
    if not isinstance(value, str) or not value:
        return "phone is missing"
    if _PHONE.fullmatch(value) is None:
        return f"phone {value!r} must be 8 to 15 digits (E.164 without '+')"
    return None


def identifier_error(channel: str, identifier: Any) -> str | None:
    if not isinstance(identifier, str) or not identifier.strip():
        return "identifier is required"
    if channel in PHONE_CHANNELS:
        return phone_error(identifier)
    if channel == "Email" and _EMAIL.fullmatch(identifier) is None:
        return f"identifier {identifier!r} is not an email address"
    return None


def string(body: dict[str, Any], key: str, *, required: bool = False, max_len: int = 200) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ApiError(400, f"{key} is required")
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{key} must be a string")
    if required and not value.strip():
        raise ApiError(400, f"{key} must not be empty")
    if len(value) > max_len:
        raise ApiError(400, f"{key} must be at most {max_len} characters")
    return value


def choice(body: dict[str, Any], key: str, options: tuple[str, ...], default: str) -> str:
    value = body.get(key, default)
    if value is None:
        value = default
    if value not in options:
        raise ApiError(400, f"{key} must be one of {', '.join(options)}")
    return str(value)


def moment(body: dict[str, Any], key: str) -> datetime | None:
    """An ISO 8601 date-time; a value without offset is taken as UTC."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{key} must be an ISO 8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{key} must be an ISO 8601 date-time, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="milliseconds")


def boolean(body: dict[str, Any], key: str) -> bool:
    value = body.get(key)
    if not isinstance(value, bool):
        raise ApiError(400, f"{key} must be true or false")
    return value


def string_list(body: dict[str, Any], key: str, max_items: int) -> list[str]:
    value = body.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ApiError(400, f"{key} must be a list of non-empty strings")
    if len(value) > max_items:
        raise ApiError(400, f"{key} allows at most {max_items} items")
    return list(value)
