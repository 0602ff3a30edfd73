"""The pure, synchronous core: records → snapshots → changes → events → outgoing Kafka records.

Nothing here does I/O or imports httpx, aiokafka, sqlite3 or prometheus_client, so every rule of
the feed (dedupe, the diff, event ids, the sweep windows) can be property-tested in isolation.
"""
