"""What a feed must have published, from the simulator's ground truth and what it served.

The simulator logs every transition with the session version that made it, and (with
``ground_truth.track_served``) every version of every session: its ``updatedAt``, when it became
visible, when it was first and last served. A transition holds in the versions from its own up
to the next transition of the same kind, and a poller could see it only if one of those was
served. So:

- every *observable* transition must have exactly one event, whose id is derived here from the
  documented identity (``uuid.uuid5`` over session, type and the transition: a moment's own
  time, or a toggle's ``field=value #n``), independently of the feeder's code;
- an event no observable transition explains is *invented*;
- a transition never served is *excused* only if every version it held in was replaced sooner
  than the feed's **configuration** lets it stay unread: the poll interval plus
  ``READ_MARGIN_S`` (and one capped retry backoff where the test makes the API fail), plus,
  for a version that became visible late, the delay and cadence of the first re-read pass that
  catches that lateness, minus the lateness; or, beyond that, only by
  the time it overlapped a fault window the *test* declared around the fault it caused. Nothing
  the feed measured about itself widens an excuse, so a feed that stalls or starves a session
  fails here instead of being excused. A version visible later than the configured lookback is
  beyond the feed's guarantee and excused as such. Every excuse is counted by its reason
  (:class:`Excuse`), and the tests bound how many there may be (:mod:`tests.e2e.tally`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from feeder_devkit.simulator.clock import from_ms
from feeder_devkit.simulator.ground_truth import EVENT_TYPE_OF_KIND, Transition, Version

from feeder.core.timestamps import format_timestamp

EVENT_ID_NAMESPACE = uuid.UUID("6f1d7c2e-5a4b-4e8f-9c3d-2b1a0e9f8d7c")  # README: event ids
TOGGLE_FIELD = {"suspected_fraud_changed": "suspectedFraud", "status_changed": "status"}
INITIAL_VALUE: dict[str, object] = {"suspected_fraud_changed": False, "status_changed": "active"}
ON_TIME_MS = 50  # a version visible within this of its updatedAt was not a late commit
READ_MARGIN_S = 0.5
"""How much longer than the poll interval a version may stay visible and unread without a
fault: one live read's own time (a page fetched, published, acknowledged by Kafka and
committed: tens of milliseconds here) and the event loop's scheduling delays on the shared
2-core test machine, where brokers, simulators and feeds of four test workers share the cores.
A constant of the judge, stated here; never taken from the feed's own measurements. (The
longest-lived version a healthy feed left unread in the suite's runs stayed 0.3 s; a feed
polling at a fifth of its rate leaves ones of up to a second.)"""
Span = tuple[datetime, datetime]


class Excuse(StrEnum):
    """Why a transition that was never served may go without an event."""

    SHORT_LIVED = "short-lived"  # every version replaced within the configured bound
    FAULT_WINDOW = "fault window"  # only the time it overlapped a declared fault window excuses it
    BEYOND_LOOKBACK = "beyond lookback"  # a version became visible later than the lookback


def expected_id(session_id: str, kind: str, identity: str) -> str:
    name = "\x1f".join((session_id, EVENT_TYPE_OF_KIND[kind], identity))
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, name))


def _toggle_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Expected:
    """The event one transition must (``required``) or may have.

    ``ids`` has one id, or several when what the feed knew is uncertain (after a toggle it may
    or may not have committed before a crash, the number of its next value is ``#k`` or
    ``#k+1``); ``times``: the event's time must be one of these; ``first_time``: this one when
    no page was lost and read again.
    """

    transition: Transition
    ids: frozenset[str]
    required: bool
    times: frozenset[datetime]
    first_time: datetime


@dataclass(frozen=True, slots=True)
class Excused:
    transition: Transition
    longest_held_s: float | None  # the longest any of its versions stayed (None: one still is)
    reason: Excuse | None  # None: not excusable


@dataclass(frozen=True, slots=True)
class PassTiming:
    """The feed's configured sweep, which bounds what it can miss."""

    poll_interval_s: float
    reread_delays_s: Sequence[float]
    cadences_s: Sequence[float]
    retry_allowance_s: float = 0.0  # a read the API's faults made retry may take this longer

    @property
    def live_gap_s(self) -> float:
        """The longest an on-time version may stay visible and unread without a fault."""
        return self.poll_interval_s + READ_MARGIN_S + self.retry_allowance_s

    def bound_s(self, lateness_s: float) -> float:
        """How long a version that became visible ``lateness_s`` late may stay unread."""
        if lateness_s * 1000 <= ON_TIME_MS:
            return self.live_gap_s
        for delay_s, cadence_s in zip(self.reread_delays_s, self.cadences_s, strict=True):
            if delay_s > lateness_s:
                return delay_s + cadence_s + self.live_gap_s - lateness_s
        return float("inf")


@dataclass(slots=True)
class Expectations:
    expected: list[Expected] = field(default_factory=list)
    excused: list[Excused] = field(default_factory=list)
    unexcusable: list[Excused] = field(default_factory=list)

    def by_id(self) -> dict[str, Expected]:
        return {event_id: x for x in self.expected for event_id in x.ids}

    @property
    def required(self) -> int:
        return sum(x.required for x in self.expected)

    @property
    def optional(self) -> int:
        return len(self.expected) - self.required

    def excused_by_reason(self) -> dict[Excuse, int]:
        return {
            reason: sum(e.reason is reason for e in self.excused)
            for reason in Excuse
            if any(e.reason is reason for e in self.excused)
        }

    @property
    def excused_share(self) -> float:
        """Transitions excused without a declared fault window (short-lived, or later than the
        lookback) among every transition the traffic made: what the feed's configuration alone
        lets it miss."""
        total = len(self.expected) + len(self.excused) + len(self.unexcusable)
        outside = sum(e.reason is not Excuse.FAULT_WINDOW for e in self.excused)
        return outside / total if total else 0.0


def _blind(moment_ms: int | None, spans: Sequence[Span]) -> bool:
    if moment_ms is None:
        return True
    moment = from_ms(moment_ms)
    return any(start <= moment <= end for start, end in spans)


def _blind_s(start_ms: int, end_ms: int | None, spans: Sequence[Span]) -> float:
    """How much of ``[start, end]`` (``end=None``: still open) the feed was blind for."""
    start = from_ms(start_ms)
    total = 0.0
    for blind_start, blind_end in spans:
        high = blind_end if end_ms is None else min(from_ms(end_ms), blind_end)
        total += max(0.0, (high - max(start, blind_start)).total_seconds())
    return total


def _seen(version: Version, spans: Sequence[Span]) -> bool:
    """Served while the feed could see (not only while it was blind, e.g. just before a
    crash: a page fetched by a process that died before committing it was not seen)."""
    return not (
        _blind(version.first_served_at_ms, spans) and _blind(version.last_served_at_ms, spans)
    )


def _served(version: Version) -> bool:
    return version.first_served_at_ms is not None


def expectations(
    transitions: Iterable[Transition],
    versions: Mapping[tuple[str, int], Version],
    timing: PassTiming,
    *,
    hidden_spans: Sequence[Span] = (),
    blind_spans: Sequence[Span] = (),
) -> Expectations:
    """The events a feed started at ``earliest`` must (or may) have published.

    ``hidden_spans``: times the source may have hidden new versions from the feed (a lagging
    replica answering): a version's excuse bound grows by the hidden time it overlapped.
    ``blind_spans``: times the feed may have lost what it was served (a process killed, or
    none running): a transition served only then may or may not have its event, and bounds
    grow by the blind time too.
    """
    slow_spans = (*hidden_spans, *blind_spans)
    groups: dict[tuple[str, str], list[Transition]] = defaultdict(list)
    for transition in sorted(transitions, key=lambda t: t.seq):
        groups[(transition.session_id, transition.kind)].append(transition)
    result = Expectations()
    for (session_id, kind), group in groups.items():
        last_value = INITIAL_VALUE.get(kind)
        uncertain = False  # a toggle event of this group may or may not have been published
        occurrences: dict[str, int] = defaultdict(int)
        for index, transition in enumerate(group):
            successor = group[index + 1] if index + 1 < len(group) else None
            held = _held_in(transition, successor, kind, versions)
            served = [version for _, version in held if _served(version)]
            if not served:
                excuse = _excuse(transition, held, versions, timing, slow_spans)
                (result.excused if excuse is not None else result.unexcusable).append(
                    excuse or _unexcused(transition, held, versions)
                )
                continue
            required = any(_seen(version, blind_spans) for version in served)
            times = frozenset(from_ms(version.updated_at_ms) for version in served)
            first = min(served, key=lambda v: v.first_served_at_ms or 0)
            first_time = from_ms(first.updated_at_ms)
            if kind in TOGGLE_FIELD:
                if transition.new == last_value and not uncertain:
                    continue  # seen with this value before and after: its change went unseen
                last_value = transition.new
                text = f"{TOGGLE_FIELD[kind]}={_toggle_text(transition.new)}"
                occurrences[text] += 1
                if uncertain or not required:
                    uncertain = True
                    numbers = range(1, occurrences[text] + 1)
                    ids = frozenset(expected_id(session_id, kind, f"{text} #{n}") for n in numbers)
                    result.expected.append(Expected(transition, ids, False, times, first_time))
                    continue
                identity = f"{text} #{occurrences[text]}"
            else:
                identity = format_timestamp(transition.at)
                times = frozenset({transition.at})
                first_time = transition.at
            ids = frozenset({expected_id(session_id, kind, identity)})
            result.expected.append(Expected(transition, ids, required, times, first_time))
    return result


def _held_in(
    transition: Transition,
    successor: Transition | None,
    kind: str,
    versions: Mapping[tuple[str, int], Version],
) -> list[tuple[int, Version]]:
    """The versions in which ``transition`` held (a creation: every version)."""
    until = None if successor is None or kind == "created" else successor.version
    held = []
    number = transition.version
    while (transition.session_id, number) in versions and (until is None or number < until):
        held.append((number, versions[(transition.session_id, number)]))
        number += 1
    return held


def _visible_until_ms(
    session_id: str, number: int, versions: Mapping[tuple[str, int], Version]
) -> int | None:
    following = versions.get((session_id, number + 1))
    return None if following is None else following.visible_at_ms


def _excuse(
    transition: Transition,
    held: list[tuple[int, Version]],
    versions: Mapping[tuple[str, int], Version],
    timing: PassTiming,
    blind_spans: Sequence[Span],
) -> Excused | None:
    """Why it may have gone unseen, or ``None`` if some version of it held too long.

    The reason: a declared fault window if one of its versions was visible during one (the
    fault may be why it went unseen), else a version beyond the lookback, else short-lived."""
    longest: float | None = 0.0
    needed: set[Excuse] = set()
    for number, version in held:
        until_ms = _visible_until_ms(transition.session_id, number, versions)
        bound_s = timing.bound_s((version.visible_at_ms - version.updated_at_ms) / 1000)
        if bound_s == float("inf"):
            needed.add(Excuse.BEYOND_LOOKBACK)
            continue
        if until_ms is None:
            return None  # still visible, on time for the feed, and never read
        held_s = (until_ms - version.visible_at_ms) / 1000
        in_faults_s = _blind_s(version.visible_at_ms, until_ms, blind_spans)
        if held_s >= bound_s + in_faults_s:
            return None
        needed.add(Excuse.FAULT_WINDOW if in_faults_s > 0 else Excuse.SHORT_LIVED)
        longest = max(longest or 0.0, held_s)
    reason = next(
        (r for r in (Excuse.FAULT_WINDOW, Excuse.BEYOND_LOOKBACK) if r in needed),
        Excuse.SHORT_LIVED,
    )
    return Excused(transition, longest, reason)


def _unexcused(
    transition: Transition,
    held: list[tuple[int, Version]],
    versions: Mapping[tuple[str, int], Version],
) -> Excused:
    spans = [_visible_until_ms(transition.session_id, n, versions) for n, _ in held]
    lasting = [
        None if until is None else (until - version.visible_at_ms) / 1000
        for until, (_, version) in zip(spans, held, strict=True)
    ]
    longest = None if None in lasting else max((s for s in lasting if s is not None), default=0.0)
    return Excused(transition, longest, reason=None)
