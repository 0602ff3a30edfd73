"""Tests that must share a worker when ``./dev test`` runs them in parallel (``--dist
loadgroup``): each group shares something expensive that a worker would otherwise build again.
Tests outside every group are spread over the workers one by one."""

from __future__ import annotations

import pytest

RESTARTABLE_KAFKA = pytest.mark.xdist_group("restartable_kafka")
"""The tests that stop and start the ``restartable_kafka`` broker."""

SECURED_KAFKA = pytest.mark.xdist_group("secured_kafka")
"""The tests of the session's secured broker (``tests/security``)."""

MANY_PROCESSES = pytest.mark.xdist_group("many_processes")
"""The container tests (they build the images once per run and start the Compose stack) and the
replica groups (three replicas and five simulated stores): each starts a dozen processes, and on
two cores the two at once starved a replica long enough to lose its broker connection."""

ONE_WORKER = pytest.mark.xdist_group
"""``ONE_WORKER(__name__)`` in a module's ``pytestmark``: its tests share a module-scoped fixture
(a live feed, a run of alert scenarios) that each worker would otherwise start anew."""
