"""Security for the API: JWT/JWKS verification, rate limits, audit log, HTTPS enforcement (import submodules directly)."""
