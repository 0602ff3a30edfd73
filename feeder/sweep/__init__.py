"""The sweep: ticks, passes, reads and pages (see README, *How it works*, for the words).

::

    sweeper.py       Sweeper: each tick the live read to now, then the due re-reads
    cursor_walk.py   one read, page by page with the API's cursor; a cursor that does not move
                     is refused
    delivery.py      a page and its checkpoint into Kafka: at-least-once or exactly-once
    loops.py         the feed's loops: poll (ticks), prune (tombstones), heartbeats
"""
