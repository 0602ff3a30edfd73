"""Kafka: the one package that imports aiokafka and translates it for the rest of feeder.

::

    connection.py    client options from the settings: TLS (tls.py), SASL PLAIN/SCRAM/OAUTHBEARER
    diagnosis.py     what a failed connection means, naming the setting; every client starts here
    admin.py         admin requests: reach the cluster, prepare and check the topics
    topics.py        feeder's topics and their configs (cleanup policies, compaction lags)
    producers.py     one way to start a producer, one idempotent close (aiokafka #1101)
    batches.py       a page handed to aiokafka as one batch per partition
    sink.py          KafkaSink: the idempotent producer behind the RecordSink seam
    transactions.py  TransactionalSink: one transaction per publish; fencing by transactional.id
    reader.py        group-less read_committed reading: tail, verify, status, the start-up
                     guards and the Kafka checkpoint store read with it
    group.py         consumer group membership, for the replicas

The sink (:mod:`feeder.sink`), the checkpoint store (:mod:`feeder.checkpoint.kafka`), the
replicas and the commands use it. Its failures leave it as feeder's errors
(``SinkUnavailableError``, ``FencedError``, ``ConfigError``, ``AuthError``) naming the setting to
change; the commands that read a topic record by record (``tail``, ``verify``) get aiokafka's
consumer and ``KafkaError`` under the reader's names (``Consumer``, ``KafkaError``).
"""
