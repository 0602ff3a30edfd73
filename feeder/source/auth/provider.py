"""The seam between the API client and wherever bearer tokens come from."""

from __future__ import annotations

from typing import Protocol

from pydantic import SecretStr


class TokenProvider(Protocol):
    """Hands out the bearer token to send, and hears when the API refused it.

    Implementations keep the token in a :class:`~pydantic.SecretStr` and never put it in a log
    line, an exception message or their ``repr``.
    """

    @property
    def settings_hint(self) -> str:
        """The settings an operator should check when the API keeps refusing our tokens."""
        ...

    async def get_token(self) -> SecretStr:
        """The token to send now, loading or refreshing it first if needed.

        Raises :class:`~feeder.errors.ApiUnavailableError` when a token service failed
        transiently, :class:`~feeder.errors.AuthError` or :class:`~feeder.errors.ConfigError` when
        retrying cannot help.
        """
        ...

    def invalidate(self, rejected: SecretStr) -> None:
        """The API answered 401/403 to ``rejected``: the next :meth:`get_token` gets a fresh one."""
        ...


def token_text_problem(text: str) -> str | None:
    """What makes ``text`` unusable as a bearer token (empty, spaces, non-ASCII), or ``None``.

    The answer never quotes the text.
    """
    if not text:
        return "is empty"
    if not all(33 <= ord(char) <= 126 for char in text):
        return "contains whitespace, control or non-ASCII characters"
    return None
