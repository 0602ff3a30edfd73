"""Checkpoint stores: per-session last state and the feed position, committed after delivery.

``CheckpointStore`` is the feed's contract and ``CheckpointAdmin`` an operator's;
``SqliteCheckpointStore`` is the durable default and ``MemoryCheckpointStore`` the in-process
double, each both. The same contract tests run over both.
"""

from feeder.checkpoint.memory import MemoryCheckpointStore
from feeder.checkpoint.reports import RebuildProgress, StoreDescription, StoreSize
from feeder.checkpoint.sqlite import SqliteCheckpointStore
from feeder.typing import CheckpointAdmin, CheckpointStore, RebuildObserver

__all__ = [
    "CheckpointAdmin",
    "CheckpointStore",
    "MemoryCheckpointStore",
    "RebuildObserver",
    "RebuildProgress",
    "SqliteCheckpointStore",
    "StoreDescription",
    "StoreSize",
]
