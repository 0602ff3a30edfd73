"""The verdict on one ground-truth run: what the oracle required, excused (by reason) and left
optional, against what the topic holds; and the bounds every ground-truth test declares.

A judge that excuses everything proves nothing, so :func:`judge` asks each test for a floor on
the transitions it requires and a ceiling on the share it may excuse, both declared by the test
from the traffic it made (never from what the feed did).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from feeder_devkit.simulator.ground_truth import Transition

from tests.e2e.harness import PublishedEvent, assert_exactly_once
from tests.e2e.oracle import Excuse, Expectations


@dataclass(frozen=True, slots=True)
class Tally:
    scenario: str
    required: int  # observable transitions the feed had to publish
    optional: int  # transitions the feed may or may not have seen (served only in a fault)
    excused: dict[Excuse, int]  # never-served transitions, by the reason they are excused
    excused_share: float  # excused without a fault window, among all the traffic made
    longest_short_lived_s: float  # the longest a short-lived excused version stayed visible
    seen: int  # distinct events in the topic
    lost: int  # required transitions with no event, and unexcusable ones
    same_id: int  # records beyond the first of an event id (re-sent)
    new_id: int  # events under an id no transition explains, or a second id for one
    by_type: dict[str, int]  # distinct events per type
    missing: tuple[Transition, ...] = ()  # the lost transitions themselves

    def line(self) -> str:
        excused = sum(self.excused.values())
        lost_kinds = ", ".join(sorted({t.kind for t in self.missing}))
        reasons = ", ".join(f"{count} {reason}" for reason, count in self.excused.items())
        return (
            f"{self.scenario}: {self.required} required, {excused} excused"
            + (
                f" ({reasons}; short-lived at most {self.longest_short_lived_s:.2f} s)"
                if reasons
                else ""
            )
            + f"; {self.excused_share:.1%} excused without a fault, {self.optional} optional; "
            f"{self.seen} events seen, "
            f"{self.lost} lost, {self.same_id} re-sent with the same id, {self.new_id} with a "
            "new id" + (f" (lost: {lost_kinds})" if lost_kinds else "")
        )


def tally(scenario: str, events: list[PublishedEvent], expect: Expectations) -> Tally:
    records = Counter(event.id for event in events)
    by_id = expect.by_id()
    missing = [x for x in expect.expected if x.required and not x.ids & records.keys()]
    explained = Counter(by_id[event_id].transition.seq for event_id in records if event_id in by_id)
    new_id = sum(1 for event_id in records if event_id not in by_id) + sum(
        count - 1 for count in explained.values() if count > 1
    )
    return Tally(
        scenario=scenario,
        required=expect.required,
        optional=expect.optional,
        excused=expect.excused_by_reason(),
        excused_share=expect.excused_share,
        longest_short_lived_s=max(
            (e.longest_held_s or 0.0 for e in expect.excused if e.reason is Excuse.SHORT_LIVED),
            default=0.0,
        ),
        seen=len(records),
        lost=len(missing) + len(expect.unexcusable),
        same_id=sum(records.values()) - len(records),
        new_id=new_id,
        by_type=dict(Counter(event.type for event in {e.id: e for e in events}.values())),
        missing=tuple(x.transition for x in missing),
    )


def check_bounds(result: Tally, *, min_required: int, max_excused_share: float) -> None:
    """The run tested something: at least ``min_required`` transitions were required, and at
    most ``max_excused_share`` of all were excused without a fault window the test declared
    (both bounds declared by the test)."""
    assert result.required >= min_required, (
        f"only {result.required} transitions were required, fewer than the {min_required} this "
        f"test declares it checks: {result.line()}"
    )
    assert result.excused_share <= max_excused_share, (
        f"{result.excused_share:.1%} of the transitions were excused without a fault, more than "
        f"the {max_excused_share:.0%} this test allows: {result.line()}"
    )


def judge(
    scenario: str,
    events: list[PublishedEvent],
    expect: Expectations,
    *,
    min_required: int,
    max_excused_share: float,
    first_times: bool = True,
    resends_allowed: bool = False,
) -> Tally:
    """The tally of ``events`` against ``expect``, once it passed every check:
    :func:`check_bounds` and :func:`assert_exactly_once` (its ``first_times`` and
    ``resends_allowed`` as there). A failure shows the tally's line."""
    result = tally(scenario, events, expect)
    check_bounds(result, min_required=min_required, max_excused_share=max_excused_share)
    try:
        assert_exactly_once(
            events, expect, first_times=first_times, resends_allowed=resends_allowed
        )
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{result.line()}") from failure
    return result
