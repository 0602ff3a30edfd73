"""A simulated AiFi Oasis Admin API ``GET /api/admin/v2/sessions``, faithful to its awkward parts.

It serves the reference page's sessions list over real HTTP (uvicorn): every query parameter,
keyset pagination with opaque cursors, Joi-style 400s, 401s, the real API's 503 rate limit, an
OAuth2 client-credentials token endpoint, a traffic model of many stores, fault injection, and a
ground-truth log of every transition, so a feed can be checked against what really happened.

Python API (tests, benchmarks)::

    from feeder_devkit.simulator import FaultSettings, ManualClock, SimulatorSettings, run_simulator

    async with run_simulator(SimulatorSettings(), clock=ManualClock()) as sim:
        sim.base_url, sim.token, sim.oauth_token_url       # where and how to call it
        sim.pause(); sim.resume(); sim.step()              # the traffic model
        sid = sim.create_session(store_id=3)               # scripted changes ...
        sim.update_session(sid, customer_last_entered_at=when, updated_at=tie, visible_after_s=5)
        sim.set_faults(FaultSettings(error_share=0.2))     # faults, replaced at runtime
        sim.ground_truth()                                 # -> list[Transition]
        sim.preload(1_000_000)                             # -> PreloadReport (time, RSS)

:func:`run_simulator` yields a :class:`Simulator` (see :mod:`feeder_devkit.simulator.engine` for
every method); call it from the loop that runs it. :func:`run_simulator_in_thread` runs one on its
own loop for synchronous callers: ``sim.call(lambda s: s.pause())``. The clock is injectable (any
callable returning an aware UTC datetime; :class:`ManualClock` moves only when told to). The same
controls are HTTP routes under ``/_simulator/`` (see :mod:`feeder_devkit.simulator.admin`), and
``feeder simulate`` serves it all from the command line (:mod:`feeder_devkit.simulator.cli`).

Module map: ``settings`` (every setting), ``records``/``catalog`` (what a session is),
``ordering``/``store`` (indexes, keyset pages), ``query``/``cursor`` (the query string),
``render`` (the JSON), ``changes`` (stamping, late commits, ground truth), ``traffic``/``preload``
(where changes come from), ``faults``, ``auth``, ``ratelimit``, ``app``/``admin``/``asgi`` (HTTP),
``engine`` (the whole state), ``server`` (running it), ``cli``.

Statuses other than ``"active"`` (``checkout_pending``, ``completed``, ``expired``,
``cancelled``) are invented: the real API's other values are undocumented.
"""

from __future__ import annotations

from feeder.typing import Clock
from feeder_devkit.simulator.clock import ManualClock, system_clock
from feeder_devkit.simulator.engine import PreloadReport, Simulator
from feeder_devkit.simulator.ground_truth import (
    TRANSITION_KINDS,
    Transition,
    TransitionKind,
    read_jsonl,
)
from feeder_devkit.simulator.records import INVENTED_STATUSES
from feeder_devkit.simulator.server import ThreadedSimulator, run_simulator, run_simulator_in_thread
from feeder_devkit.simulator.settings import (
    FaultSettings,
    GroundTruthSettings,
    ServerSettings,
    SimulatorSettings,
    TrafficSettings,
)

__all__ = [
    "INVENTED_STATUSES",
    "TRANSITION_KINDS",
    "Clock",
    "FaultSettings",
    "GroundTruthSettings",
    "ManualClock",
    "PreloadReport",
    "ServerSettings",
    "Simulator",
    "SimulatorSettings",
    "ThreadedSimulator",
    "TrafficSettings",
    "Transition",
    "TransitionKind",
    "read_jsonl",
    "run_simulator",
    "run_simulator_in_thread",
    "system_clock",
]
