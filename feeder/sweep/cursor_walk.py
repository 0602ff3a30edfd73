"""Walking one read page by page with the API's own cursor (``pagination.next.after``).

The cursor encodes id and sort key, so a tie of hundreds of sessions at one ``updatedAt`` pages
through without offsets. A cursor that does not move (the API answers a page with the cursor it
was given) would loop forever: the walk refuses it with ``ApiUnavailableError`` before the page
is used, and the read is retried on the next tick.
"""

from __future__ import annotations

from feeder.core.passes import Read
from feeder.errors import ApiUnavailableError
from feeder.source.page import PageQuery, RawPage
from feeder.typing import PageSource


class CursorWalk:
    """The pages of ``read``, from ``after`` (``None``: its first page) on.

    ``after`` is the cursor of the next page to fetch; ``finished`` is true once the API said
    the last page was fetched.
    """

    __slots__ = ("_page_size", "_read", "_source", "after", "finished")

    def __init__(
        self, source: PageSource, read: Read, *, page_size: int, after: str | None = None
    ) -> None:
        self._source = source
        self._read = read
        self._page_size = page_size
        self.after = after
        self.finished = False

    async def next_page(self) -> RawPage:
        """Fetch the next page and move the cursor past it; ``ApiUnavailableError`` if the API
        returned the cursor it was given."""
        after = self.after
        read = self._read
        page = await self._source.fetch_page(
            PageQuery(read.start, read.end, self._page_size, after)
        )
        if page.next_after is not None and page.next_after == after:
            raise ApiUnavailableError(
                f"the API returned the cursor it was given ({after!r}); refusing to loop"
            )
        if page.next_after is None:
            self.finished = True
        else:
            self.after = page.next_after
        return page
