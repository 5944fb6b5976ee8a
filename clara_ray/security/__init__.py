"""API security: JWT/JWKS verification, rate limits, audit log, HTTPS enforcement (import the submodules)."""
