"""Settings, read once from the environment (and an optional `.env` file)."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_core.errors import ConfigurationError

DEFAULT_DATABASE_URL = "sqlite:///kizuna.sqlite3"
LOCALES = ("ja", "en")
_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Settings:
    """Everything Kizuna reads from its environment; build with `Settings.from_env()`."""

    database_url: str = DEFAULT_DATABASE_URL
    line_channel_secret: str | None = None
    line_channel_access_token: str | None = None
    line_api_base_url: str = "https://api.line.me"
    line_api_data_base_url: str = "https://api-data.line.me"
    line_access_base_url: str = "https://access.line.me"
    public_url: str = "http://127.0.0.1:8000"
    secret_key: str | None = None
    timezone: str = "Asia/Tokyo"
    locale: str = "ja"
    quiet_hours: str | None = None
    demo: bool = False
    trusted_proxies: int = 0  # how many reverse proxies in front add X-Forwarded-For (0: trust none)
    line_push_rate: float = 2000.0  # requests/s to LINE's push endpoint, all dispatchers together
    line_multicast_rate: float = 200.0  # requests/s to LINE's multicast endpoint
    delivery_threads: int = 32  # requests to LINE in flight at once per dispatcher process (~33/s each)
    scheduler_lease_seconds: int = 30  # a standby scheduler takes over within this (and a third) of the leader's death
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: os._Environ | dict | None = None, **overrides) -> Settings:
        """Read the KIZUNA_* and LINE_* variables; `overrides` win over the environment."""
        env = os.environ if environ is None else environ
        base = env.get("LINE_API_BASE_URL") or cls.line_api_base_url
        data_base = env.get("LINE_API_DATA_BASE_URL") or (
            base if env.get("LINE_API_BASE_URL") else cls.line_api_data_base_url
        )
        settings = cls(
            database_url=env.get("KIZUNA_DATABASE_URL") or DEFAULT_DATABASE_URL,
            line_channel_secret=env.get("LINE_CHANNEL_SECRET") or None,
            line_channel_access_token=env.get("LINE_CHANNEL_ACCESS_TOKEN") or None,
            line_api_base_url=base.rstrip("/"),
            line_api_data_base_url=data_base.rstrip("/"),
            line_access_base_url=(env.get("LINE_ACCESS_BASE_URL") or cls.line_access_base_url).rstrip("/"),
            public_url=(env.get("KIZUNA_PUBLIC_URL") or cls.public_url).rstrip("/"),
            secret_key=env.get("KIZUNA_SECRET_KEY") or None,
            timezone=env.get("KIZUNA_TIMEZONE") or cls.timezone,
            locale=env.get("KIZUNA_LOCALE") or cls.locale,
            quiet_hours=env.get("KIZUNA_QUIET_HOURS") or None,
            trusted_proxies=_proxy_hops(env.get("KIZUNA_TRUSTED_PROXIES")),
            line_push_rate=_positive("KIZUNA_LINE_PUSH_RATE", env, cls.line_push_rate),
            line_multicast_rate=_positive("KIZUNA_LINE_MULTICAST_RATE", env, cls.line_multicast_rate),
            delivery_threads=int(_positive("KIZUNA_DELIVERY_THREADS", env, cls.delivery_threads, most=256)),
            scheduler_lease_seconds=_lease_seconds(env.get("KIZUNA_SCHEDULER_LEASE_SECONDS")),
        )
        settings = replace(settings, **overrides)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ConfigurationError with a one-line reason when a setting cannot work."""
        if self.locale not in LOCALES:
            raise ConfigurationError(f"KIZUNA_LOCALE must be one of {', '.join(LOCALES)}, not {self.locale!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"KIZUNA_TIMEZONE {self.timezone!r} is not a known time zone") from None
        if self.quiet_hours and self.quiet_hours != "off" and not _QUIET.match(self.quiet_hours):
            raise ConfigurationError("KIZUNA_QUIET_HOURS must look like 21:00-09:00, or be off")

    def require_production(self) -> None:
        """Outside demo mode the secret key and the LINE channel must be configured."""
        missing = [
            name
            for name, value in (
                ("KIZUNA_SECRET_KEY", self.secret_key),
                ("LINE_CHANNEL_SECRET", self.line_channel_secret),
                ("LINE_CHANNEL_ACCESS_TOKEN", self.line_channel_access_token),
            )
            if not value
        ]
        if missing:
            raise ConfigurationError(f"set {', '.join(missing)} (or run `kizuna demo` to try Kizuna without LINE)")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def with_demo_defaults(self, *, port: int) -> Settings:
        """The demo talks to its own LINE simulator with throwaway credentials."""
        local = f"http://127.0.0.1:{port}"
        return replace(
            self,
            demo=True,
            line_channel_secret=self.line_channel_secret or secrets.token_hex(16),
            line_channel_access_token=self.line_channel_access_token or secrets.token_urlsafe(32),
            line_api_base_url=f"{local}/simulator/line",
            line_api_data_base_url=f"{local}/simulator/line",
            line_access_base_url=f"{local}/simulator",
            public_url=local,
            secret_key=self.secret_key or secrets.token_hex(32),
        )


def _proxy_hops(raw: str | None) -> int:
    """KIZUNA_TRUSTED_PROXIES: the number of reverse proxies in front of Kizuna (0 or unset: none)."""
    if not (raw or "").strip():
        return 0
    if not raw.strip().isdigit() or int(raw) > 10:
        raise ConfigurationError("KIZUNA_TRUSTED_PROXIES must be the number of reverse proxies in front (0-10)")
    return int(raw)


def _positive(name: str, env, default: float, *, most: float | None = None) -> float:
    """A positive number from the environment (unset: `default`)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0 or (most is not None and value > most) or value != value:
        limit = f" up to {most:g}" if most is not None else ""
        raise ConfigurationError(f"{name} must be a positive number{limit}, not {raw!r}")
    return value


def _lease_seconds(raw: str | None) -> int:
    """KIZUNA_SCHEDULER_LEASE_SECONDS: how long a scheduler's lead lasts unrenewed (3-600 s; unset: 30)."""
    if not (raw or "").strip():
        return Settings.scheduler_lease_seconds
    if not raw.strip().isdigit() or not 3 <= int(raw) <= 600:
        raise ConfigurationError("KIZUNA_SCHEDULER_LEASE_SECONDS must be a number of seconds from 3 to 600")
    return int(raw)
