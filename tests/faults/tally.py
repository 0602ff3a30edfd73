"""One line per fault scenario: what ground truth expected and what the topic holds."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from feeder_devkit.simulator.ground_truth import Transition

from tests.e2e.harness import PublishedEvent
from tests.e2e.oracle import Expectations

LONG = os.environ.get("FEEDER_FAULTS_LONG") == "1"
"""The long form (``python -m tests.faults``): ≥ 100 kills, a 60 s broker outage."""


@dataclass(frozen=True, slots=True)
class Tally:
    scenario: str
    expected: int  # observable transitions the feed had to publish
    seen: int  # distinct events in the topic
    lost: int  # expected transitions with no event
    same_id: int  # records beyond the first of an event id (re-sent)
    new_id: int  # events under an id no transition explains, or a second id for one
    missing: tuple[Transition, ...] = ()  # the lost transitions themselves

    def line(self) -> str:
        return (
            f"{self.scenario}: {self.expected} transitions expected, {self.seen} events seen, "
            f"{self.lost} lost, {self.same_id} duplicated with the same id, "
            f"{self.new_id} with a new id"
            + (f" ({', '.join(sorted({t.kind for t in self.missing}))})" if self.missing else "")
        )


def tally(scenario: str, events: list[PublishedEvent], expect: Expectations) -> Tally:
    records = Counter(event.id for event in events)
    by_id = expect.by_id()
    required = [x for x in expect.expected if x.required]
    missing = [x for x in required if not x.ids & records.keys()]
    lost = len(missing)
    explained = Counter(by_id[event_id].transition.seq for event_id in records if event_id in by_id)
    new_id = sum(1 for event_id in records if event_id not in by_id) + sum(
        count - 1 for count in explained.values() if count > 1
    )
    return Tally(
        missing=tuple(x.transition for x in missing),
        scenario=scenario,
        expected=len(required),
        seen=len(records),
        lost=lost + len(expect.unexcusable),
        same_id=sum(records.values()) - len(records),
        new_id=new_id,
    )
