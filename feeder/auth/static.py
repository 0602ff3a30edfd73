"""A bearer token fixed in the settings (``FEEDER_API__TOKEN``); also the simplest test double."""

from __future__ import annotations

from pydantic import SecretStr

from feeder.auth.provider import token_text_problem
from feeder.errors import ConfigError


class StaticTokenProvider:
    """Always the same token. A refused token cannot be refreshed: the operator must replace it."""

    __slots__ = ("_token",)

    settings_hint = "FEEDER_API__TOKEN (static tokens expire; sandbox ones after about 90 days)"

    def __init__(self, token: SecretStr) -> None:
        text = token.get_secret_value().strip()
        problem = token_text_problem(text)
        if problem is not None:
            raise ConfigError(f"FEEDER_API__TOKEN {problem}")
        self._token = SecretStr(text)

    def __repr__(self) -> str:
        return "StaticTokenProvider(token=SecretStr('**********'))"

    async def get_token(self) -> SecretStr:
        """The configured token."""
        return self._token

    def invalidate(self, rejected: SecretStr) -> None:
        """Nothing to refresh; the client retries once and then raises ``AuthError``."""
