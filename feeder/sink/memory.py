"""An in-process sink that keeps what it was given; for tests and the pure pipeline."""

from __future__ import annotations

from collections.abc import Sequence

from feeder.core.records import OutgoingRecord


class MemorySink:
    def __init__(self) -> None:
        self.records: list[OutgoingRecord] = []

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        self.records.extend(records)

    def on_topic(self, topic: str) -> list[OutgoingRecord]:
        return [record for record in self.records if record.topic == topic]

    async def aclose(self) -> None:
        return None
