"""Mint an HS256 token for security mode dev: `python -m clara_ray.security.devtoken --sub alice --role trainer`."""

from __future__ import annotations

import argparse
import sys
import time


def mint(secret: str, sub: str, roles: list[str], *, minutes: float = 60, issuer: str = "", audience: str = "",
         name: str | None = None) -> str:
    """Keycloak-shaped claims (realm_access.roles) signed with the dev secret."""
    import jwt

    now = int(time.time())
    claims = {"sub": sub, "iat": now, "nbf": now, "exp": now + int(minutes * 60), "preferred_username": name or sub,
              "realm_access": {"roles": roles}}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m clara_ray.security.devtoken", description=__doc__.splitlines()[0])
    p.add_argument("--sub", required=True, help="subject (user id)")
    p.add_argument("--role", action="append", default=[], help="role, repeatable: admin trainer analyst user auditor")
    p.add_argument("--minutes", type=float, default=60, help="lifetime")
    args = p.parse_args(argv)
    from clara_ray.config import load_settings
    from clara_ray.security.settings import security_config_of

    cfg = security_config_of(load_settings())
    if cfg.mode != "dev":
        sys.exit(f"error: security.mode is {cfg.mode!r}; dev tokens work only in mode 'dev'")
    print(mint(cfg.jwt_secret, args.sub, args.role, minutes=args.minutes, issuer=cfg.issuer, audience=cfg.audience))
    return 0


if __name__ == "__main__":
    sys.exit(main())
