"""Properties of the pure dedupe/diff core: re-delivery never changes the set of events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from feeder.core.page_plan import parse_page, plan_page
from feeder.core.state import SessionState
from tests.core.sessions import at, record

Record = dict[str, object]


@st.composite
def histories(draw: st.DrawFn) -> list[Record]:
    """Snapshots of a few sessions, each moving forward in time, interleaved by updatedAt."""
    records: list[tuple[float, Record]] = []
    for number in range(draw(st.integers(1, 4))):
        created = float(draw(st.integers(0, 50)))
        updated = created
        entered = exited = scanned = None
        for _ in range(draw(st.integers(1, 6))):
            updated += draw(st.integers(0, 20))  # 0: ties with other sessions' updates
            updated += 0.001  # strictly increasing per session
            if draw(st.booleans()):
                entered = updated
            if draw(st.booleans()):
                exited = updated
            if draw(st.booleans()):
                scanned = updated
            raw = record(
                str(number),
                updated=updated,
                created=created,
                entered=entered,
                exited=exited,
                scanned=scanned,
                fraud=draw(st.booleans()),
                status=draw(st.sampled_from(["active", "expired", "invented-status"])),
            )
            records.append((updated, raw))
    records.sort(key=lambda pair: (pair[0], str(pair[1]["id"])))
    return [raw for _, raw in records]


def feed(records: list[Record], page_size: int, start: float) -> list[tuple[str, str]]:
    """Run records through the core page by page; return the sorted (event id, type) pairs."""
    known: dict[str, SessionState] = {}
    seen: list[tuple[str, str]] = []
    for offset in range(0, len(records), page_size):
        parsed = parse_page(records[offset : offset + page_size])
        plan = plan_page(
            parsed,
            {sid: known[sid] for sid in parsed.session_ids if sid in known},
            feed_start=at(start),
            now=at(10_000),
            previous_updated_at=None,
        )
        known.update(plan.states)
        seen.extend((event.id, event.type.value) for event in plan.events)
    return sorted(seen)


@settings(max_examples=300, deadline=None)
@given(
    history=histories(),
    data=st.data(),
    page_size=st.integers(1, 7),
    start=st.sampled_from([0.0, 30.0, 1000.0]),
)
def test_redelivering_any_subset_in_any_order_adds_no_event(
    history: list[Record], data: st.DataObject, page_size: int, start: float
) -> None:
    expected = feed(history, page_size, start)
    stream = list(history)
    redeliveries = data.draw(
        st.lists(st.tuples(st.integers(0, len(history) - 1), st.integers(0, 10_000)), max_size=12)
    )
    for index, where in redeliveries:
        # a re-delivery comes after the record's first delivery, anywhere later in the stream
        first = stream.index(history[index])
        stream.insert(first + 1 + where % (len(stream) - first), history[index])
    assert feed(stream, page_size, start) == expected


@settings(max_examples=200, deadline=None)
@given(history=histories(), small=st.integers(1, 5), large=st.integers(6, 50))
def test_page_boundaries_do_not_change_the_events(
    history: list[Record], small: int, large: int
) -> None:
    assert feed(history, small, 0.0) == feed(history, large, 0.0)


@settings(max_examples=200, deadline=None)
@given(history=histories())
def test_event_ids_are_unique_per_transition(history: list[Record]) -> None:
    events = feed(history, 3, 0.0)
    ids = [event_id for event_id, _ in events]
    assert len(ids) == len(set(ids))
