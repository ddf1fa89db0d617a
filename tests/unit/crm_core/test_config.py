"""Settings read from the environment: the reverse proxies Kizuna may trust."""

from __future__ import annotations

import pytest

from crm_core.config import Settings
from crm_core.errors import ConfigurationError


def test_no_proxy_is_trusted_unless_configured():
    assert Settings.from_env({}).trusted_proxies == 0
    assert Settings.from_env({"KIZUNA_TRUSTED_PROXIES": "2"}).trusted_proxies == 2


@pytest.mark.parametrize("value", ["yes", "-1", "11", "1.5"])
def test_a_wrong_proxy_count_is_refused_in_one_line(value):
    with pytest.raises(ConfigurationError, match="KIZUNA_TRUSTED_PROXIES"):
        Settings.from_env({"KIZUNA_TRUSTED_PROXIES": value})


def test_lines_published_rate_limits_unless_configured():
    default = Settings.from_env({})
    assert (default.line_push_rate, default.line_multicast_rate, default.delivery_threads) == (2000, 200, 32)
    tuned = Settings.from_env(
        {"KIZUNA_LINE_PUSH_RATE": "500", "KIZUNA_LINE_MULTICAST_RATE": "50.5", "KIZUNA_DELIVERY_THREADS": "2"}
    )
    assert (tuned.line_push_rate, tuned.line_multicast_rate, tuned.delivery_threads) == (500, 50.5, 2)


@pytest.mark.parametrize(
    ("name", "value"),
    [("KIZUNA_LINE_PUSH_RATE", "0"), ("KIZUNA_LINE_MULTICAST_RATE", "fast"), ("KIZUNA_DELIVERY_THREADS", "257")],
)
def test_a_wrong_rate_or_thread_count_is_refused_in_one_line(name, value):
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value})


def test_the_schedulers_lease_is_30_seconds_unless_configured():
    assert Settings.from_env({}).scheduler_lease_seconds == 30
    assert Settings.from_env({"KIZUNA_SCHEDULER_LEASE_SECONDS": "3"}).scheduler_lease_seconds == 3


@pytest.mark.parametrize("value", ["2", "601", "ten", "1.5"])
def test_a_wrong_lease_is_refused_in_one_line(value):
    with pytest.raises(ConfigurationError, match="KIZUNA_SCHEDULER_LEASE_SECONDS"):
        Settings.from_env({"KIZUNA_SCHEDULER_LEASE_SECONDS": value})
