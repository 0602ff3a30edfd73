"""A single-node Apache Kafka (KRaft, broker + controller) for local runs and tests, no Docker.

The broker jars come from Maven Central through ``mvn`` and are cached, so only the first start
needs the network. Standard library only: ``deploy/local/kafka`` runs this package before any
virtual environment exists.
"""

from feeder_devkit.localkafka.broker import (
    DEFAULT_KAFKA_VERSION,
    BrokerStartError,
    LocalKafkaBroker,
)

__all__ = ["DEFAULT_KAFKA_VERSION", "BrokerStartError", "LocalKafkaBroker"]
