"""Security settings: mode requirements fail at load with a field message; secrets stay out of reprs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from clara_ray.security.settings import SecurityConfig, security_config_of


@pytest.mark.parametrize("fields, message", [
    ({"mode": "dev"}, "jwt_secret"),
    ({"mode": "dev", "jwt_secret": "short"}, "jwt_secret"),
    ({"mode": "production", "audience": "a"}, "issuer"),
    ({"mode": "production", "issuer": "https://kc/realms/x"}, "audience"),
    ({"mode": "strict", "issuer": "http://kc.example.com/realms/x", "audience": "a"}, "https"),
    ({"mode": "off", "rate_limit": {"limits": {"training:create": "five per minute"}}}, "invalid rate limit"),
    ({"mode": "off", "bogus": 1}, "bogus"),
])
def test_invalid_security_config_is_rejected(fields, message):
    with pytest.raises(ValidationError, match=message):
        SecurityConfig(**fields)


def test_strict_accepts_loopback_http_jwks_for_local_testing():
    SecurityConfig(mode="strict", issuer="https://kc/realms/x", audience="a", jwks_url="http://127.0.0.1:9/certs")


def test_secret_not_in_repr():
    cfg = SecurityConfig(mode="dev", jwt_secret="s" * 40)
    assert "s" * 40 not in repr(cfg)


def test_reads_the_mode_only_settings_of_config_py(settings):
    cfg = security_config_of(settings)
    assert isinstance(cfg, SecurityConfig) and cfg.mode == settings.security.mode


def test_survives_the_json_dump_that_ships_settings_to_serve_replicas(settings, tmp_path):
    from clara_ray.config import ClaraSettings

    class Future(ClaraSettings):  # ClaraSettings once its `security:` field is SecurityConfig
        security: SecurityConfig = SecurityConfig()

    s = Future(storage={"data_dir": tmp_path}, security={"mode": "dev", "jwt_secret": "s" * 40})
    shipped = Future.model_validate(s.model_dump(mode="json"))  # what deployments/app.py -> ClaraApi does
    assert shipped.security.jwt_secret == "s" * 40 and shipped.security.mode == "dev"
