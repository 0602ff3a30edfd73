"""Who may call the API: the static bearer token, and OAuth2 client-credentials tokens.

``POST /oauth2/token`` takes a form body ``grant_type=client_credentials`` with the client's id
and secret in the body or in HTTP Basic auth (``scope`` optional, echoed back) and answers
``{"access_token", "token_type": "Bearer", "expires_in", "scope"}``. Issued tokens stop working
after ``oauth_token_lifetime_s`` of the injected clock. Errors follow RFC 6749 section 5.2.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import unquote_plus

from feeder.typing import Clock
from feeder_devkit.simulator.settings import ServerSettings

STATIC_CLIENT = "static-token"


@dataclass(frozen=True, slots=True)
class TokenAnswer:
    """The token endpoint's answer: an HTTP status and a JSON body."""

    status: int
    body: dict[str, object]


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if authorization is None:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if sep else None


class Authenticator:
    """Checks bearer tokens and issues OAuth2 access tokens."""

    def __init__(self, settings: ServerSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._issued: dict[str, tuple[str, float]] = {}

    @property
    def static_token(self) -> str:
        return self._settings.token.get_secret_value()

    def client_of(self, authorization: str | None) -> str | None:
        """The client a request's ``Authorization`` header belongs to; ``None`` means 401."""
        token = _bearer(authorization)
        if token is None:
            return None
        if hmac.compare_digest(token, self.static_token):
            return STATIC_CLIENT
        issued = self._issued.get(token)
        if issued is None:
            return None
        client_id, expires_s = issued
        if self._clock().timestamp() >= expires_s:
            del self._issued[token]
            return None
        return client_id

    def is_admin(self, authorization: str | None) -> bool:
        """Whether a request may use ``/_simulator/`` (always, when no admin token is set)."""
        admin = self._settings.admin_token
        if admin is None:
            return True
        token = _bearer(authorization)
        return token is not None and hmac.compare_digest(token, admin.get_secret_value())

    def issue(self, form: dict[str, str], authorization: str | None) -> TokenAnswer:
        """Answer a token request (client-credentials grant only)."""
        if form.get("grant_type") != "client_credentials":
            return TokenAnswer(400, {"error": "unsupported_grant_type"})
        basic = _basic(authorization)
        client_id, secret = basic if basic else (form.get("client_id"), form.get("client_secret"))
        if client_id is None or secret is None:
            return TokenAnswer(400, {"error": "invalid_request"})
        expected_secret = self._settings.oauth_client_secret.get_secret_value()
        if not (
            hmac.compare_digest(client_id, self._settings.oauth_client_id)
            and hmac.compare_digest(secret, expected_secret)
        ):
            return TokenAnswer(401, {"error": "invalid_client"})
        now_s = self._clock().timestamp()
        self._issued = {t: v for t, v in self._issued.items() if v[1] > now_s}
        token = secrets.token_urlsafe(32)
        lifetime_s = self._settings.oauth_token_lifetime_s
        self._issued[token] = (client_id, now_s + lifetime_s)
        body: dict[str, object] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": int(lifetime_s) if lifetime_s.is_integer() else lifetime_s,
        }
        if form.get("scope"):
            body["scope"] = form["scope"]
        return TokenAnswer(200, body)

    def revoke_all(self) -> int:
        """Invalidate every issued OAuth2 token (the static token stays); returns how many."""
        count = len(self._issued)
        self._issued.clear()
        return count
