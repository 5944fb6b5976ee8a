"""Security exceptions with their HTTP status and headers (401 + WWW-Authenticate, 429 + Retry-After, 403 HTTPS)."""

from __future__ import annotations

from fastapi import HTTPException

REALM = "clara"


class AuthenticationFailed(HTTPException):
    """401: missing, malformed, expired or otherwise invalid token. `reason` is safe to show; never the token."""

    def __init__(self, reason: str = "authentication required", *, error: str | None = "invalid_token"):
        challenge = f'Bearer realm="{REALM}"'
        if error:  # RFC 6750: no error code when the request carried no credentials
            challenge += f', error="{error}", error_description="{reason}"'
        super().__init__(401, detail=reason, headers={"WWW-Authenticate": challenge})
        self.reason = reason


class AuthUnavailable(HTTPException):
    """503: the token may be fine but its signing keys cannot be fetched (identity provider down)."""

    def __init__(self, reason: str = "signing keys unavailable; try again later"):
        super().__init__(503, detail=reason, headers={"Retry-After": "5"})
        self.reason = reason


class RateLimited(HTTPException):
    """429 with Retry-After in whole seconds."""

    def __init__(self, limit: str, bucket: str, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        self.reason = f"rate limit {limit} exceeded for {bucket}; retry in {self.retry_after} s"
        super().__init__(429, detail=self.reason, headers={"Retry-After": str(self.retry_after)})


class HttpsRequired(HTTPException):
    """403: strict mode answers only over HTTPS."""

    def __init__(self):
        self.reason = "this API accepts HTTPS only"
        super().__init__(403, detail=self.reason)
