"""The batched hand-off puts every keyed record where aiokafka's own ``send`` would."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from feeder.core.records import OutgoingRecord
from feeder.kafka.batches import _placed

_KEYS = st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=30)


@given(_KEYS, st.integers(min_value=1, max_value=12), st.data())
def test_keyed_records_land_on_the_default_partitioners_choice(
    keys: list[bytes], partition_count: int, data: st.DataObject
) -> None:
    # Each key several times, as a page repeats a session's key for its events and its state.
    repeated = data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=60))
    every = list(range(partition_count))
    records = [OutgoingRecord("events", key, b"{}", ()) for key in repeated]
    placed = list(_placed(records, {"events": (every, every)}))
    expected = [DefaultPartitioner()(key, every, every) for key in repeated]
    assert [partition for _, partition in placed] == expected
    assert [record.key for record, _ in placed] == repeated
