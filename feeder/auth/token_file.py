"""A bearer token read from a file (``FEEDER_API__TOKEN_FILE``) and re-read whenever it changes.

Secrets mounted by Kubernetes or written by a sidecar are rotated in place. The file is stat'ed on
every use (cheap, in a worker thread) and read again when its inode, size or mtime changed, or
after the API refused the current token. If the file is briefly missing or empty after a good
token was loaded (a non-atomic rewrite), the last good token is kept and a warning is logged; a
refused token then surfaces as ``AuthError``. With no good token yet, it is a ``ConfigError``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from feeder.auth.provider import token_text_problem
from feeder.errors import ConfigError
from feeder.typing import NO_OP_OBSERVER, ApiObserver

logger = logging.getLogger("feeder.source")


@dataclass(frozen=True, slots=True)
class _Loaded:
    token: SecretStr
    signature: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


@dataclass(frozen=True, slots=True)
class _Unreadable:
    problem: str


def _load_if_changed(path: Path, known: _Loaded | None) -> _Loaded | _Unreadable:
    """The file's token; ``known`` itself when the file's signature has not changed."""
    try:
        stat = path.stat()
        signature = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if known is not None and signature == known.signature:
            return known
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return _Unreadable("does not exist")
    except UnicodeDecodeError:
        return _Unreadable("is not UTF-8 text")
    except OSError as exc:
        return _Unreadable(f"cannot be read ({exc.strerror or type(exc).__name__})")
    problem = token_text_problem(text)
    if problem is not None:
        return _Unreadable(problem)
    return _Loaded(SecretStr(text), signature)


class TokenFileProvider:
    """The token in ``path``, whitespace stripped, kept current as the file changes."""

    __slots__ = ("_current", "_observer", "_path", "_stale")

    settings_hint = "FEEDER_API__TOKEN_FILE (and the token the file holds)"

    def __init__(self, path: Path, *, observer: ApiObserver = NO_OP_OBSERVER) -> None:
        self._path = path
        self._observer = observer
        self._current: _Loaded | None = None
        self._stale = False

    def __repr__(self) -> str:
        return f"TokenFileProvider(path={str(self._path)!r})"

    async def get_token(self) -> SecretStr:
        """The file's current token."""
        known = None if self._stale else self._current
        result = await asyncio.to_thread(_load_if_changed, self._path, known)
        if isinstance(result, _Unreadable):
            self._observer.on_token_refresh("file", "failed")
            if self._current is None:
                raise ConfigError(
                    f"token file {self._path} {result.problem}; check FEEDER_API__TOKEN_FILE"
                )
            logger.warning(
                "token file %s %s; keeping the last token read from it", self._path, result.problem
            )
            return self._current.token
        if result is not self._current:
            previous, self._current, self._stale = self._current, result, False
            if previous is None or previous.token != result.token:
                if previous is not None:
                    logger.info("token file %s changed; using the new token", self._path)
                self._observer.on_token_refresh("file", "ok")
        return result.token

    def invalidate(self, rejected: SecretStr) -> None:
        """Read the file again on the next use, even if it looks unchanged."""
        if self._current is not None and rejected == self._current.token:
            self._stale = True
