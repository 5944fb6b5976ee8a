"""A minimal OpenID provider for the console's login test: authorization code + PKCE (S256), JWKS, CORS.

Keycloak's paths, so the API's default endpoints (derived from the issuer) find it. It checks what a real
provider checks for a public client: redirect URI, state round trip, code single use, code_verifier vs challenge.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse

from sec_helpers import AUDIENCE, SigningKey

REALM = "/realms/clara/protocol/openid-connect"


class FakeIdp:
    def __init__(self, key: SigningKey, client_id: str, user: str, roles: list[str]):
        self.key, self.client_id, self.user, self.roles = key, client_id, user, roles
        self.codes: dict[str, dict] = {}
        self.exchanges: list[dict] = []
        self.issuer = ""  # set once the server's URL is known
        self.app = app = FastAPI()
        # The console posts the code from its own origin (the API's), a local port here.
        app.add_middleware(CORSMiddleware, allow_origin_regex=r"http://127\.0\.0\.1:\d+", allow_methods=["POST"],
                           allow_headers=["Content-Type"])

        @app.get(f"{REALM}/auth")
        async def authorize(request: Request):
            q = request.query_params
            if q.get("client_id") != self.client_id or q.get("response_type") != "code":
                raise HTTPException(400, "bad client_id or response_type")
            if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
                raise HTTPException(400, "PKCE S256 required")
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"],
                                "scope": q.get("scope")}
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

        @app.post(f"{REALM}/token")
        async def token(grant_type: str = Form(), code: str = Form(), redirect_uri: str = Form(),
                        client_id: str = Form(), code_verifier: str = Form()):
            pending = self.codes.pop(code, None)  # single use
            if grant_type != "authorization_code" or pending is None or client_id != self.client_id:
                raise HTTPException(400, "invalid_grant")
            digest = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
            if digest != pending["challenge"] or redirect_uri != pending["redirect_uri"]:
                raise HTTPException(400, "invalid_grant: PKCE verifier or redirect_uri mismatch")
            self.exchanges.append({"scope": pending["scope"], "redirect_uri": redirect_uri})
            access = self.key.token(self.user, self.roles, iss=self.issuer, aud=AUDIENCE)
            return {"access_token": access, "token_type": "Bearer", "expires_in": 300}

        @app.get(f"{REALM}/certs")
        async def certs():
            return {"keys": [self.key.jwk]}
