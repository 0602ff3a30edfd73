"""feeder: a change feed from the AiFi Oasis Admin API sessions list to Kafka."""

__version__ = "0.1.0"
