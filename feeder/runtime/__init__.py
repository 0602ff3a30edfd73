"""The runtime: what builds the parts and runs them.

::

    root.py          the composition root: the only module that knows every concrete class
    feed.py          a live feed's life: task group, signals, two-phase shutdown (FeedApp)
    signals.py       SIGINT/SIGTERM for a feed and a replica alike
    guards.py        start-up guards: the API reachable, a lost checkpoint refused
    backfill.py      a past window in parallel slices, beside the live checkpoint
    replicas.py      feeds shared by replicas through a Kafka consumer group
    feeds.py         the feeds of one config
    collection.py    garbage collection on a timer
"""
