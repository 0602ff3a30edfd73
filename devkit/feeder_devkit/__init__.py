"""feeder's dev kit: what development, the tests, the benchmark and the demo run beside feeder,
and what the runtime wheel does not carry.

- :mod:`feeder_devkit.simulator`: a simulated Oasis Admin API sessions list, with a ground truth
  of every change (``feeder simulate``);
- :mod:`feeder_devkit.localkafka`: a single-node Kafka broker from Maven Central, no Docker
  (``deploy/local/kafka``; standard library only);
- :mod:`feeder_devkit.demo`: Kafka, the simulator and a feed in one process (``feeder demo``).

Install it from a checkout of feeder: ``pip install ./devkit`` (``./dev`` does).
"""
