"""What every bearer token must look like, wherever it comes from (the seam itself is
:class:`feeder.typing.TokenProvider`)."""

from __future__ import annotations


def token_text_problem(text: str) -> str | None:
    """What makes ``text`` unusable as a bearer token (empty, spaces, non-ASCII), or ``None``.

    The answer never quotes the text.
    """
    if not text:
        return "is empty"
    if not all(33 <= ord(char) <= 126 for char in text):
        return "contains whitespace, control or non-ASCII characters"
    return None
