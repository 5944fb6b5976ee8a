"""Security test helpers: RSA signing keys, a local JWKS HTTP server, token makers, a fake backend."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://idp.test/realms/clara"
AUDIENCE = "clara-api"
SECRET = "dev-secret-" + "x" * 32


class FakeBackend:
    """Any backend: every async method returns a dict; event streams end at once (so WebSocket routes return)."""

    def __getattr__(self, name: str):
        async def call(*args, **kwargs):
            if name == "wait_events":
                raise RuntimeError("fake backend: no events")
            if name == "last_seq":
                return 0
            return {"ok": True, "method": name}

        return call


class JwksServer:
    """A JWKS endpoint on a free localhost port; `keys` can be swapped at run time, `hits` counts fetches."""

    def __init__(self):
        self.jwks: dict = {"keys": []}
        self.hits = 0
        self.up = True
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.hits += 1
                if not server.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = json.dumps(server.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/realms/clara/protocol/openid-connect/certs"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def publish(self, *keys: "SigningKey") -> None:
        self.jwks = {"keys": [k.jwk for k in keys] + [{"kty": "RSA", "use": "enc", "kid": "enc-1", "n": "AQAB",
                                                         "e": "AQAB", "alg": "RSA-OAEP"}]}

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SigningKey:
    def __init__(self, kid: str):
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwk = {**RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True), "kid": kid, "use": "sig",
                    "alg": "RS256"}
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def token(self, sub: str = "alice", roles=("trainer",), *, kid: str | None = "same", **claims) -> str:
        return jwt.encode(claims_for(sub, roles, **claims), self.private, algorithm="RS256",
                          headers={"kid": self.kid if kid == "same" else kid} if kid else None)


def claims_for(sub: str, roles, *, iss: str | None = ISSUER, aud: str | None = AUDIENCE, exp_in: float = 300,
               nbf_in: float | None = None, **extra) -> dict:
    now = int(time.time())
    c = {"sub": sub, "iat": now, "exp": now + int(exp_in), "preferred_username": sub,
         "realm_access": {"roles": list(roles)}, **extra}
    if iss:
        c["iss"] = iss
    if aud:
        c["aud"] = aud
    if nbf_in is not None:
        c["nbf"] = now + int(nbf_in)
    return c


def hs_token(sub: str = "alice", roles=("trainer",), secret: str = SECRET, **claims) -> str:
    claims.setdefault("iss", None)
    claims.setdefault("aud", None)
    return jwt.encode(claims_for(sub, roles, **claims), secret, algorithm="HS256")


def b64(data: bytes | dict) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forged_hs256(key: bytes, header: dict, claims: dict) -> str:
    """An attacker's token: HMAC over header.payload with any byte string as the key (e.g. the public key PEM)."""
    signing_input = f"{b64(header)}.{b64(claims)}"
    return f"{signing_input}.{b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
