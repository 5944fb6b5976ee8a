"""Console settings (`console:` in configs/clara.yaml, env CLARA_CONSOLE__*): where it is served, how users log in."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ConsoleSettings(BaseModel):
    model_config = {"extra": "forbid", "validate_assignment": True}

    enabled: bool = True
    """Serve the web console at /console/ (and redirect / to it)."""
    oidc_client_id: str = ""
    """Production login: the public OIDC client the browser uses (PKCE, no secret); default `security.client_id`."""
    oidc_authorization_endpoint: str = ""
    """Where the browser is sent to log in; default `{security.issuer}/protocol/openid-connect/auth` (Keycloak)."""
    oidc_token_endpoint: str = ""
    """Where the browser trades the code for tokens; default `{security.issuer}/protocol/openid-connect/token`."""
    oidc_logout_endpoint: str = ""
    """Optional: where "log out" sends the browser, e.g. Keycloak's `.../protocol/openid-connect/logout`."""
    oidc_scope: str = Field("openid profile", min_length=1)
    """Scopes asked for; `openid` is needed for an ID token, the API reads the access token."""
