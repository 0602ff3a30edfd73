"""An in-process sink that keeps what it was given; for tests and the pure pipeline."""

from __future__ import annotations

from collections.abc import Sequence

from feeder.core.records import OutgoingRecord
from feeder.errors import SinkUnavailableError


class MemorySink:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []
        self.fail_next: int = 0  # the next N publishes raise, to exercise retries

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise SinkUnavailableError("memory sink told to fail")
        self.records.extend(records)

    def on_topic(self, topic: str) -> list[OutgoingRecord]:
        return [record for record in self.records if record.topic == topic]

    async def aclose(self) -> None:
        return None
