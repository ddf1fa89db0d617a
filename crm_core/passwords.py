"""Password hashing with Argon2id (argon2-cffi), shared by staff and web-member logins."""

from __future__ import annotations

from argon2 import Parameters, PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2-cffi's defaults (RFC 9106's low-memory profile)
_DUMMY = _hasher.hash("kizuna-dummy-password")

MIN_LENGTH = 10


def use_parameters(parameters: Parameters) -> None:
    """Hash new passwords with other Argon2 parameters (the test suite uses argon2's CHEAPEST profile:
    a login costs microseconds there instead of half a second). Existing hashes carry their own."""
    global _hasher, _DUMMY
    _hasher = PasswordHasher.from_parameters(parameters)
    _DUMMY = _hasher.hash("kizuna-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when it matches; spends the same time when there is no account, so e-mails can't be probed."""
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
