"""Sinks: where outgoing records go. ``KafkaSink`` is the real one, ``MemorySink`` the double."""

from feeder.sink.kafka import KafkaSink
from feeder.sink.memory import MemorySink
from feeder.sink.protocol import RecordSink

__all__ = ["KafkaSink", "MemorySink", "RecordSink"]
