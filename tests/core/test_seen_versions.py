"""The seen-versions memo is a shortcut only: with it, every page plans exactly as without it."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from feeder.core.page_plan import PagePlan, parse_page, plan_page
from feeder.core.seen_versions import SeenVersions
from feeder.core.state import SessionState
from tests.core.sessions import at, record
from tests.core.test_redelivery_properties import Record, histories

# Records that look like a version already seen but are not that version, or not valid: the
# same stamp rewritten, values equal across types (1 == True), ids the feed normalises.
LOOKALIKES = (
    {"status": "rewritten-in-the-same-millisecond"},
    {"suspectedFraud": 1},
    {"suspectedFraud": 0},
    {"storeId": True},
    {"storeId": 1.0},
    {"expiresAt": 5},
    {"customerLastEnteredAt": None},
)


def _comparable(plan: PagePlan) -> PagePlan:
    """Everything a plan tells, but which validated duplicates the memo did not know yet."""
    return dataclasses.replace(plan, confirmed=())


def _plan(
    records: list[object], known: dict[str, SessionState], seen: SeenVersions | None
) -> PagePlan:
    parsed = parse_page(records, seen)
    return plan_page(
        parsed,
        {sid: known[sid] for sid in parsed.session_ids if sid in known},
        feed_start=at(0),
        now=at(10_000),
        previous_updated_at=None,
    )


@settings(max_examples=300, deadline=None)
@given(
    history=histories(),
    data=st.data(),
    page_size=st.integers(1, 7),
    limit=st.sampled_from([1, 2, 3, 100]),
)
def test_every_page_plans_as_without_the_memo(
    history: list[Record], data: st.DataObject, page_size: int, limit: int
) -> None:
    stream: list[object] = list(history)
    for index, where, lookalike in data.draw(
        st.lists(
            st.tuples(
                st.integers(0, len(history) - 1),
                st.integers(0, 10_000),
                st.one_of(st.none(), st.sampled_from(LOOKALIKES)),
            ),
            max_size=20,
        )
    ):
        first = stream.index(history[index])
        again = history[index] if lookalike is None else {**history[index], **lookalike}
        stream.insert(first + 1 + where % (len(stream) - first), again)
    known: dict[str, SessionState] = {}
    seen = SeenVersions(limit)
    for offset in range(0, len(stream), page_size):
        page = stream[offset : offset + page_size]
        expected = _plan(page, known, None)
        planned = _plan(page, known, seen)
        assert _comparable(planned) == _comparable(expected)
        known.update(planned.states)
        seen.committed(planned)
    assert len(seen) <= limit


def test_a_version_read_again_is_not_validated_again() -> None:
    v1 = record("a", updated=5, entered=4)
    seen = SeenVersions()
    first = _plan([v1], {}, seen)
    seen.committed(first)
    parsed = parse_page([dict(v1)], seen)
    assert parsed.session_ids == set()  # no state to load
    assert [entry.session_id for entry in parsed.entries] == ["a"]
    again = _plan([dict(v1)], dict(first.states), seen)
    assert again.duplicates == 1
    assert again.events == ()
    assert again.fresh == ()
    assert again.max_updated_at == at(5)


def test_a_lookalike_with_a_number_for_a_boolean_is_still_dead_lettered() -> None:
    v1 = record("a", updated=5, fraud=True)
    seen = SeenVersions()
    seen.committed(_plan([v1], {}, seen))
    plan = _plan([{**v1, "suspectedFraud": 1}], {}, seen)
    assert [letter.field for letter in plan.dead_letters] == ["suspectedFraud"]


def test_an_integer_id_is_never_remembered() -> None:
    numbered = record("7", updated=5) | {"id": 7}
    seen = SeenVersions()
    seen.committed(_plan([numbered], {}, seen))
    assert len(seen) == 0


def test_a_forgotten_session_is_validated_again() -> None:
    v1 = record("a", updated=5)
    seen = SeenVersions()
    seen.committed(_plan([v1], {}, seen))
    seen.forget(["a"])
    assert parse_page([v1], seen).session_ids == {"a"}
