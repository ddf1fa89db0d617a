"""Reading a JSON request body's fields, each refused with a 400 naming it (shared by the API's modules)."""

from __future__ import annotations

from bot.api.errors import ApiError


def check_fields(body: dict, allowed: set[str], where: str = "") -> None:
    """Refuse fields the endpoint does not know (`where`: the prefix of a nested object's field names)."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, "unknown_field", f"Unknown field(s): {', '.join(where + name for name in unknown)}.")


def whole(body: dict, name: str, *, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, "invalid_field", f"{name} must be a whole number.")
    return value


def text(body: dict, name: str, longest: int = 100, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise ApiError(400, "invalid_field", f"{name} must be a string of 1 to {longest} characters.")
    return value.strip()
