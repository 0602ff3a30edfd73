"""A small OAuth2 authorization server for the OAUTHBEARER listener, on a thread.

``POST /token`` answers the client-credentials grant (credentials in the form body, as feeder
sends them) with an RS256-signed JWT; ``GET /jwks`` publishes the signing key, which is where
the broker's ``OAuthBearerValidatorCallbackHandler`` verifies the tokens. Errors follow RFC 6749
section 5.2.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

AUDIENCE = "kafka"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _integer(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class TokenIssuer:
    client_id: str
    client_secret: str
    lifetime_s: int = 300
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    key_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    base_url: str = ""
    issued: list[str] = field(default_factory=list)  # every access token handed out
    refused: int = 0

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/jwks"

    @property
    def issuer(self) -> str:
        return self.base_url

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.key_id,
                    "n": _integer(numbers.n),
                    "e": _integer(numbers.e),
                }
            ]
        }

    def token(self, subject: str, scope: str | None) -> str:
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self.key_id}
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self.lifetime_s,
            "jti": uuid.uuid4().hex,
        }
        if scope:
            claims["scope"] = scope
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64(signature)}"

    def answer(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        def one(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        if one("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        if one("client_id") != self.client_id or one("client_secret") != self.client_secret:
            self.refused += 1
            return 401, {"error": "invalid_client"}
        scope = one("scope")
        token = self.token(self.client_id, scope)
        self.issued.append(token)
        return 200, {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.lifetime_s,
            **({"scope": scope} if scope else {}),
        }


def _handler(issuer: TokenIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/jwks":
                self._send(200, issuer.jwks())
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            if self.path != "/token":
                self._send(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            self._send(*issuer.answer(form))

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests read the counters instead."""

    return Handler


@contextlib.contextmanager
def running_issuer(client_id: str, client_secret: str) -> Iterator[TokenIssuer]:
    issuer = TokenIssuer(client_id, client_secret)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(issuer))
    issuer.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="token-issuer", daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
