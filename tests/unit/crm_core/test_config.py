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
