"""The :class:`Simulator`: the whole simulated API state and every control over it.

HTTP handlers (:mod:`feeder_devkit.simulator.app`, :mod:`feeder_devkit.simulator.admin`) and
in-process callers use the same methods. Everything here is synchronous and must be called from the
event loop that serves the HTTP API (or through
:class:`feeder_devkit.simulator.server.ThreadedSimulator`).
"""

from __future__ import annotations

import random
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from feeder.typing import Clock
from feeder_devkit.simulator.auth import Authenticator
from feeder_devkit.simulator.catalog import build_catalog
from feeder_devkit.simulator.changes import SessionPatch, SessionWriter, log_transitions
from feeder_devkit.simulator.clock import system_clock, to_ms
from feeder_devkit.simulator.cursor import encode_cursor
from feeder_devkit.simulator.faults import FaultInjector
from feeder_devkit.simulator.ground_truth import GroundTruthLog, Transition, Version, VersionLog
from feeder_devkit.simulator.ordering import Entry, OrderKey
from feeder_devkit.simulator.preload import generate_history
from feeder_devkit.simulator.query import SessionQuery
from feeder_devkit.simulator.ratelimit import RateLimiter
from feeder_devkit.simulator.records import ACTIVE, Session, UuidDeriver
from feeder_devkit.simulator.render import JsonDict, SessionRenderer, dumps
from feeder_devkit.simulator.settings import FaultSettings, SimulatorSettings
from feeder_devkit.simulator.store import SessionStore
from feeder_devkit.simulator.traffic import TrafficModel


@dataclass(frozen=True, slots=True)
class PreloadReport:
    """What a bulk preload did and what it cost."""

    sessions: int
    seconds: float
    rss_bytes: int
    rss_growth_bytes: int


def rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return pages * resource.getpagesize()


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else to_ms(moment)


def _session_id(session_id: str | int) -> int:
    try:
        return int(session_id)
    except ValueError:
        raise KeyError(f"no session {session_id!r}") from None


class Simulator:
    """A simulated Oasis sessions API: store, traffic model, faults, auth and ground truth."""

    def __init__(self, settings: SimulatorSettings, clock: Clock = system_clock) -> None:
        self.settings = settings
        self.clock = clock
        traffic = settings.traffic
        self.seed = (
            traffic.seed if traffic.seed is not None else random.SystemRandom().getrandbits(63)
        )
        master = random.Random(self.seed)
        catalog = build_catalog(traffic.stores, traffic.customers, random.Random(master.random()))
        self._uuids = UuidDeriver(master.getrandbits(64))
        self._renderer = SessionRenderer(catalog, self._uuids)
        self._store = SessionStore(self._uuids)
        gt = settings.ground_truth
        self._log = GroundTruthLog(gt.path, gt.memory_max)
        self._versions = VersionLog(gt.track_served)
        self._replica: SessionStore | None = None
        self._writer = SessionWriter(self._store, self._log, self._versions, clock)
        self._faults = FaultInjector(settings.faults, random.Random(master.random()))
        self._late = FaultInjector(settings.faults, random.Random(master.random()))
        self._traffic = TrafficModel(
            settings=traffic,
            writer=self._writer,
            rng=random.Random(master.random()),
            late_delay_ms=self._late.late_delay_ms,
            stores=traffic.stores,
            customers=traffic.customers,
        )
        self._script_rng = random.Random(master.random())
        self._preload_rng = random.Random(master.random())
        self.auth = Authenticator(settings.server, clock)
        self.limiter = RateLimiter(settings.server.rate_limit_per_s, clock)
        self.base_url = ""
        if traffic.start_paused:
            self._traffic.pause(self.now_ms())
        else:
            self._traffic.start(self.now_ms())

    # -- connection facts (set by the server once it listens) -------------------------------

    @property
    def token(self) -> str:
        """The static bearer token the API accepts."""
        return self.auth.static_token

    @property
    def oauth_token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    @property
    def sessions_url(self) -> str:
        return f"{self.base_url}/api/admin/v2/sessions"

    def now_ms(self) -> int:
        return to_ms(self.clock())

    # -- the traffic model --------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._traffic.paused

    def pause(self) -> None:
        """Stop the traffic model (scripted changes still work)."""
        self._traffic.pause(self.now_ms())

    def resume(self) -> None:
        """Restart the traffic model; its pending events shift by the length of the pause."""
        self._traffic.resume(self.now_ms())

    def step(self) -> int:
        """Bring the state up to the clock: release due late commits, run due traffic events."""
        released = self._writer.release_due()
        ran = self._traffic.advance(self.now_ms())
        self._log.flush()
        return released + ran

    def preload(self, count: int) -> PreloadReport:
        """Add ``count`` sessions of history at once (see
        :mod:`feeder_devkit.simulator.preload`)."""
        started_s, rss_before = time.perf_counter(), rss_bytes()
        traffic = self.settings.traffic
        now_ms = self.now_ms()
        first_id = self._store.new_id()
        history = list(
            generate_history(
                count=count,
                settings=traffic,
                now_ms=now_ms,
                first_id=first_id,
                rng=self._preload_rng,
                stores=traffic.stores,
                customers=traffic.customers,
            )
        )
        self._store.bulk_insert(history)
        if history:
            self._writer.note_existing_stamp(max(s.updated_at_ms for s in history))
        if self.settings.ground_truth.include_preload:
            for session in history:
                log_transitions(self._log, None, session, now_ms)
            self._log.flush()
        del history
        return PreloadReport(
            count, time.perf_counter() - started_s, rss_bytes(), rss_bytes() - rss_before
        )

    # -- scripted changes ---------------------------------------------------------------------

    def create_session(
        self,
        *,
        store_id: int | None = None,
        customer_id: int | None = None,
        group_size: int = 1,
        status: str = ACTIVE,
        suspected_fraud: bool = False,
        created_at: datetime | None = None,
        expires_at: datetime | None = None,
        updated_at: datetime | None = None,
        visible_after_s: float = 0.0,
    ) -> str:
        """Create a session now (or at ``created_at``); returns its id.

        ``updated_at`` forces the stamp (default: the next stamp after ``created_at``);
        ``visible_after_s`` > 0 makes it a late-visible commit.
        """
        traffic = self.settings.traffic
        created_ms = self.now_ms() if created_at is None else to_ms(created_at)
        stamp_ms = self._writer.stamp(created_ms) if updated_at is None else to_ms(updated_at)
        default_expiry_ms = created_ms + int(traffic.session_ttl_s * 1000 / traffic.speedup)
        session = Session(
            id=self._store.new_id(),
            store_id=store_id or self._script_rng.randint(1, traffic.stores),
            customer_id=customer_id or self._script_rng.randint(1, traffic.customers),
            created_at_ms=created_ms,
            updated_at_ms=stamp_ms,
            expires_at_ms=_ms(expires_at) or default_expiry_ms,
            status=status,
            group_size=group_size,
            suspected_fraud=suspected_fraud,
        )
        self._check_ids(session)
        self._writer.create(session, int(visible_after_s * 1000))
        self._log.flush()
        return str(session.id)

    def _check_ids(self, session: Session) -> None:
        traffic = self.settings.traffic
        if not 1 <= session.store_id <= traffic.stores:
            raise ValueError(f"store_id must be in 1..{traffic.stores} (setting traffic.stores)")
        if not 1 <= session.customer_id <= traffic.customers:
            raise ValueError(f"customer_id must be in 1..{traffic.customers}")

    def update_session(
        self,
        session_id: str | int,
        *,
        customer_last_entered_at: datetime | None = None,
        customer_last_exited_at: datetime | None = None,
        code_last_scanned_at: datetime | None = None,
        suspected_fraud: bool | None = None,
        status: str | None = None,
        visitors: int | None = None,
        group_size: int | None = None,
        expires_at: datetime | None = None,
        updated_at: datetime | None = None,
        visible_after_s: float = 0.0,
    ) -> None:
        """Change fields of a session; ``None`` leaves a field alone. ``KeyError`` if unknown.

        ``updated_at`` forces the ``updatedAt`` the change carries (to make ties, or an old
        stamp); ``visible_after_s`` > 0 holds the change back (a late-visible commit).
        """
        sid = _session_id(session_id)
        if self._store.get(sid) is None and not self._writer.is_held(sid):
            raise KeyError(f"no session {session_id!r}")
        patch = SessionPatch(
            status=status,
            suspected_fraud=suspected_fraud,
            code_last_scanned_at_ms=_ms(code_last_scanned_at),
            customer_last_entered_at_ms=_ms(customer_last_entered_at),
            customer_last_exited_at_ms=_ms(customer_last_exited_at),
            visitors=visitors,
            group_size=group_size,
            expires_at_ms=_ms(expires_at),
        )
        stamp_ms = self._writer.stamp(self.now_ms()) if updated_at is None else to_ms(updated_at)
        self._writer.update(sid, patch, stamp_ms, int(visible_after_s * 1000))
        self._log.flush()

    def session(self, session_id: str | int) -> JsonDict | None:
        """The session's visible state as the API renders it (no faults), or ``None``."""
        found = self._store.get(_session_id(session_id))
        return None if found is None else self._renderer.render(found)

    @property
    def session_count(self) -> int:
        """Visible sessions."""
        return len(self._store)

    @property
    def held_changes(self) -> int:
        """Late-visible changes not visible yet."""
        return self._writer.held_count

    # -- faults -------------------------------------------------------------------------------

    @property
    def faults(self) -> FaultSettings:
        return self._faults.settings

    def set_faults(self, faults: FaultSettings) -> None:
        """Replace every fault setting at once (``FaultSettings()`` turns all faults off)."""
        self._faults.replace(faults)
        self._late.replace(faults)

    @property
    def fault_injector(self) -> FaultInjector:
        return self._faults

    # -- ground truth -------------------------------------------------------------------------

    def ground_truth(
        self,
        after_seq: int = 0,
        session_id: str | int | None = None,
        kinds: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Transition]:
        """Transitions with ``seq > after_seq`` (oldest first) still held in memory."""
        wanted = None if session_id is None else str(session_id)
        return self._log.read(after_seq, limit, wanted, kinds)

    @property
    def ground_truth_path(self) -> Path | None:
        return self._log.path

    @property
    def last_seq(self) -> int:
        return self._log.last_seq

    # -- serving ------------------------------------------------------------------------------

    def freeze_replica(self) -> int:
        """Copy the visible sessions into a replica that ``replica_share`` of the page requests
        are answered from from now on, however the sessions change (a lagging replica or cache);
        returns how many sessions it holds."""
        replica = SessionStore(self._uuids)
        count = replica.bulk_insert(self._store)
        self._replica = replica
        return count

    def versions(self) -> dict[tuple[str, int], Version]:
        """``(session id, version)`` → when it was visible and first served
        (``ground_truth.track_served``)."""
        return self._versions.snapshot()

    def page_body(self, query: SessionQuery, malform: bool = True, delivered: bool = True) -> bytes:
        """The JSON body of one page; ``InvalidQueryError`` for an unusable cursor.

        ``delivered=False``: the body will not reach the client intact (a truncated or non-JSON
        answer), so its versions do not count as served.
        """
        self.step()
        faults = self._faults
        from_replica = self._replica is not None and faults.from_replica()
        store = self._replica if from_replica and self._replica is not None else self._store
        page = store.page(query)
        render_text = self._renderer.render_text
        may_malform = malform and faults.settings.malformed_share > 0
        if delivered and self._versions.enabled:
            now_ms = self.now_ms()
            for session in page.sessions:
                self._versions.served(session.id, session.version, now_ms, from_replica)
        texts: list[str] = []
        for session in page.sessions:
            as_int = faults.id_as_int()
            if may_malform:
                record = self._renderer.render(session, as_int)
                if faults.maybe_malform(record) is not None:
                    texts.append(dumps(record).decode())
                    continue
            texts.append(render_text(session, as_int))
        direction = "asc" if query.ascending else "desc"
        pagination = {
            "previous": _link(page.previous_before, page.order_key, "before", query, direction),
            "next": _link(page.next_after, page.order_key, "after", query, direction),
        }
        return b"".join(
            (b'{"data":[', ",".join(texts).encode(), b'],"pagination":', dumps(pagination), b"}")
        )

    def status(self) -> JsonDict:
        """A summary for ``GET /_simulator/status``."""
        return {
            "sessions": self.session_count,
            "held_changes": self.held_changes,
            "paused": self.paused,
            "seed": self.seed,
            "now": self.clock().isoformat(),
            "last_seq": self.last_seq,
            "ground_truth_path": None
            if self.ground_truth_path is None
            else str(self.ground_truth_path),
            "rss_bytes": rss_bytes(),
            "cpu_s": time.process_time(),
            "faults": self.faults.model_dump(mode="json"),
        }

    def close(self) -> None:
        """Flush and close the ground-truth file; idempotent."""
        self._log.close()


def _link(
    entry: Entry | None, key: OrderKey, side: str, query: SessionQuery, direction: str
) -> JsonDict | None:
    if entry is None:
        return None
    cursor = encode_cursor(entry[1], key.to_cursor_value(entry[0]))
    return {"count": query.count, side: cursor, "direction": direction}
