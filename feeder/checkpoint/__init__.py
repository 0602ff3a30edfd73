"""Checkpoint stores: per-session last state and the feed position, committed after delivery.

``CheckpointStore`` is the contract; ``SqliteCheckpointStore`` is the durable default and
``MemoryCheckpointStore`` the in-process double. The same contract tests run over both.
"""

from feeder.checkpoint.memory import MemoryCheckpointStore
from feeder.checkpoint.protocol import CheckpointStore, StoreDescription, StoreSize
from feeder.checkpoint.sqlite import SqliteCheckpointStore

__all__ = [
    "CheckpointStore",
    "MemoryCheckpointStore",
    "SqliteCheckpointStore",
    "StoreDescription",
    "StoreSize",
]
