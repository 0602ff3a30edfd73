"""Sinks: where outgoing records go. ``KafkaSink`` is the real one, ``MemorySink`` the double."""

from feeder.kafka.sink import KafkaSink
from feeder.sink.memory import MemorySink
from feeder.typing import RecordSink

__all__ = ["KafkaSink", "MemorySink", "RecordSink"]
