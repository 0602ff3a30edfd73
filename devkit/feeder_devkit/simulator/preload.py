"""Bulk preload: a history of N sessions generated in one go, for backfill benchmarks.

Sessions are created uniformly over the ``preload_span_s`` before now (ids follow creation
order) and given the state their life would have reached by now, with the same shape as the
traffic model's sessions (scans, entries, exits, a re-entry for some, invented statuses, fraud
flags). ``updatedAt`` is the time of the last thing that happened, except that ``tie_share`` of
sessions share the previous session's ``updatedAt`` when that is late enough, so ties exist.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from math import log

from feeder_devkit.simulator.records import Session
from feeder_devkit.simulator.settings import TrafficSettings
from feeder_devkit.simulator.traffic import (
    CANCEL_SHARE,
    MEAN_CHECKOUT_S,
    MEAN_COMPLETE_S,
    MEAN_DWELL_S,
    MEAN_ENTER_S,
    MEAN_REENTRY_GAP_S,
    MEAN_SCAN_S,
)

_UNUSED_SHARE = 0.1


def generate_history(  # noqa: PLR0912, PLR0915 - one straight-line life story per session
    *,
    count: int,
    settings: TrafficSettings,
    now_ms: int,
    first_id: int,
    rng: random.Random,
    stores: int,
    customers: int,
) -> Iterator[Session]:
    """``count`` sessions with ids from ``first_id``, in creation (and id) order."""
    span_ms = int(settings.preload_span_s * 1000)
    start_ms = now_ms - span_ms
    created = sorted(start_ms + int(rng.random() * span_ms) for _ in range(count))
    scale = 1000 / settings.speedup
    ttl_ms = int(settings.session_ttl_s * scale)
    uniform = rng.random

    def expo(rate: float) -> float:
        return -log(1.0 - uniform()) / rate

    store_ids = list(range(stores + 1))  # shared int objects keep a million sessions smaller
    customer_ids = list(range(customers + 1))
    scan_rate, enter_rate, dwell_rate = 1 / MEAN_SCAN_S, 1 / MEAN_ENTER_S, 1 / MEAN_DWELL_S
    gap_rate, checkout_rate = 1 / MEAN_REENTRY_GAP_S, 1 / MEAN_CHECKOUT_S
    complete_rate = 1 / MEAN_COMPLETE_S
    previous_updated_ms = 0
    for offset, created_ms in enumerate(created):
        expires_ms = created_ms + ttl_ms
        group_size = 2 + int(uniform() * 4) if uniform() < settings.group_share else 1
        status = "active"
        scanned_first = scanned = entered_first = entered_last = None
        exited_first = exited_last = None
        visitors = entries = 0
        satisfaction: int | None = None
        fate = uniform()
        t = created_ms + 1 + int(expo(scan_rate) * scale)
        last_ms = created_ms
        if fate < CANCEL_SHARE:
            if t <= now_ms:
                status, last_ms = "cancelled", t
        elif fate < CANCEL_SHARE + _UNUSED_SHARE:
            if expires_ms <= now_ms:
                status, last_ms = "expired", expires_ms
        elif t <= now_ms:
            scanned_first = scanned = last_ms = t
            for visit in range(2):
                t += 1 + int(expo(enter_rate) * scale)
                if t > now_ms:
                    break
                entered_first = entered_first or t
                entered_last = last_ms = t
                entries += 1
                visitors = group_size
                t += 1 + int(expo(dwell_rate) * scale)
                if t > now_ms:
                    break
                exited_first = exited_first or t
                exited_last = last_ms = t
                if visit == 1 or uniform() >= settings.reentry_share:
                    t += 1 + int(expo(checkout_rate) * scale)
                    if t <= now_ms:
                        status, last_ms = "checkout_pending", t
                        t += 1 + int(expo(complete_rate) * scale)
                        if t <= now_ms:
                            status, last_ms = "completed", t
                            satisfaction = 40 + int(uniform() * 61) if uniform() < 0.3 else None
                    break
                t += 1 + int(expo(gap_rate) * scale)
                if t > now_ms:
                    break
                scanned = last_ms = t
        fraud = uniform() < settings.fraud_share and entries > 0
        updated_ms = last_ms
        if uniform() < settings.tie_share and last_ms <= previous_updated_ms <= now_ms:
            updated_ms = previous_updated_ms
        previous_updated_ms = updated_ms
        # Positional in field order: measurably faster than keywords for a million records.
        yield Session(
            first_id + offset,
            store_ids[1 + int(uniform() * stores)],
            customer_ids[1 + int(uniform() * customers)],
            created_ms,
            updated_ms,
            expires_ms,
            status,
            group_size,
            visitors,
            entries,
            fraud,
            scanned_first,
            scanned,
            entered_first,
            entered_last,
            exited_first,
            exited_last,
            satisfaction,
            satisfaction is not None,
        )
