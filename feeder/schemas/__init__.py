"""The event contract as JSON Schema (draft 2020-12), generated from pydantic models.

:mod:`feeder.schemas.models` describes what feeder writes to Kafka: one CloudEvent per
:class:`~feeder.core.diff.EventType`, the latest-state record and the dead-letter record.
:mod:`feeder.schemas.generate` turns them into the files committed under ``schemas/`` (with one
example per document, encoded by :mod:`feeder.core` itself); ``feeder schemas`` writes or checks
them. Tests validate real events against these files, so the models cannot drift from the code.
"""

from feeder.schemas.generate import render_files, stale_files, write_files

__all__ = ["render_files", "stale_files", "write_files"]
