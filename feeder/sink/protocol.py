"""The sink contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from feeder.core.records import OutgoingRecord


class RecordSink(Protocol):
    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Return once every record is acknowledged, in order per key.

        Raise ``SinkUnavailableError`` if that did not happen within the sink's deadline; some
        records may then have been written, and the caller re-sends the whole page later.
        """
        ...

    async def aclose(self) -> None:
        """Flush and release; idempotent."""
        ...
