"""Shared fixtures: a real Apache Kafka broker for the whole test run."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from feeder_devkit.localkafka import LocalKafkaBroker

from tests.hypothesis_profiles import load_profile
from tests.run_summary import FOLDER_VARIABLE, reported

load_profile()

_BOOTSTRAP = "KAFKA_BOOTSTRAP_SERVERS"
_BROKER = pytest.StashKey[LocalKafkaBroker]()
_SUMMARY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """The run's first process makes the folder of the summary's lines (``tests.run_summary``).
    With workers (``-n``), it also starts the one local broker they all share before it starts
    them (they inherit ``KAFKA_BOOTSTRAP_SERVERS``); without, the ``kafka_bootstrap`` fixture
    starts it when a test first needs it."""
    parallel = config.pluginmanager.hasplugin("xdist") and config.getoption("numprocesses")
    is_worker = hasattr(config, "workerinput")
    if not is_worker:
        folder = tempfile.mkdtemp(prefix="feeder-test-summary-")
        config.stash[_SUMMARY] = folder
        os.environ[FOLDER_VARIABLE] = folder
    if parallel and not is_worker and not _given_broker():
        broker = LocalKafkaBroker()
        broker.start()
        config.stash[_BROKER] = broker
        os.environ[_BOOTSTRAP] = broker.bootstrap_servers


def pytest_unconfigure(config: pytest.Config) -> None:
    broker = config.stash.get(_BROKER, None)
    if broker is not None:
        broker.stop()
        del os.environ[_BOOTSTRAP]
    folder = config.stash.get(_SUMMARY, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _given_broker() -> bool:
    return bool(os.environ.get(_BOOTSTRAP)) or os.environ.get("FEEDER_TEST_DOCKER") == "1"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker.

    ``KAFKA_BOOTSTRAP_SERVERS`` points at someone's running broker (or the one the run's
    controller started for its workers); ``FEEDER_TEST_DOCKER=1`` starts one with testcontainers
    (needs a Docker engine and the ``docker`` extra); otherwise a local KRaft broker is started
    from Maven Central jars and stopped when the run ends.
    """
    given = os.environ.get(_BOOTSTRAP)
    if given:
        yield given
        return
    if os.environ.get("FEEDER_TEST_DOCKER") == "1":
        from testcontainers.kafka import KafkaContainer  # noqa: PLC0415 - optional extra

        with KafkaContainer("apache/kafka:4.1.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    with LocalKafkaBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture(scope="session")
def restartable_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafkaBroker]:
    """A broker of the tests' own that they may stop and start again (its data kept), started
    when first used. The tests that use it share it (:data:`tests.worker_groups.RESTARTABLE_KAFKA`),
    so a run starts one such broker instead of one per test; each calls ``start()`` first,
    which does nothing while it runs, since the test before may have left it stopped."""
    broker = LocalKafkaBroker(data_dir=tmp_path_factory.mktemp("restartable-kafka"))
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def topic_name() -> str:
    """A topic name no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for section, lines in reported(Path(os.environ[FOLDER_VARIABLE])).items():
        terminalreporter.section(section)
        for line in lines:
            terminalreporter.write_line(line)
