"""Child processes for the benchmarks: the simulator and the feeder, measured from outside.

Each runs in its own process so its CPU time is its own: ``/proc/<pid>/stat`` while it runs,
``os.wait4``'s resource usage (CPU and peak RSS) once it has exited.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson

_CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True, slots=True)
class ExitUsage:
    """What a child used over its whole life, from ``os.wait4``."""

    returncode: int
    cpu_s: float
    max_rss_bytes: int  # VmHWM: the peak since exec (ru_maxrss would include the parent's)


def start_simulator(
    sessions: int, *, extra_args: Sequence[str] = (), seed: int = 42
) -> tuple[subprocess.Popen[str], str]:
    """``feeder simulate`` on a free port with ``sessions`` preloaded; returns it and its URL."""
    command = [
        sys.executable,
        "-m",
        "feeder",
        "simulate",
        "--port",
        "0",
        "--seed",
        str(seed),
        "--preload-sessions",
        str(sessions),
        "--log-level",
        "warning",
        *extra_args,
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ.copy())  # noqa: S603
    assert server.stdout is not None
    for line in server.stdout:
        match = re.search(r"serving (http://\S+)/api/admin/v2/sessions", line)
        if match:
            return server, match.group(1)
    raise RuntimeError(f"the simulator exited with {server.wait()}")


def start_feeder(
    args: Sequence[str], env: Mapping[str, str], log_path: Path, python: str = sys.executable
) -> subprocess.Popen[bytes]:
    """``feeder <args>`` with ``env`` added to this process's environment; stderr to a file
    (a pipe nobody reads could fill up and stall it), stdout to a pipe. ``python``: another
    installation's interpreter, to measure another version of feeder on the same simulator."""
    with log_path.open("ab") as log:
        return subprocess.Popen(  # noqa: S603
            [python, "-m", "feeder", *args],
            # PYTHONSAFEPATH: ``-m`` must not import the feeder of the working directory (this
            # checkout) instead of the one installed for ``python``.
            env={**os.environ, **env, "PYTHONSAFEPATH": "1"},
            stdout=subprocess.PIPE,
            stderr=log,
        )


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process so far."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS_PER_S


def rss_bytes(pid: int) -> int:
    """Resident set size of a running process now."""
    with open(f"/proc/{pid}/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE_BYTES


def peak_rss_bytes(pid: int) -> int:
    """The most a running process has held resident since it was exec'd (``VmHWM``)."""
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def wait_with_usage(process: subprocess.Popen[bytes], timeout_s: float) -> ExitUsage:
    """Wait for ``process`` to exit (killing it after ``timeout_s``); what it used.

    The peak RSS is sampled while it runs: Linux keeps ``ru_maxrss`` across ``exec``, so the
    value ``wait4`` reports includes this (parent) process's size at the fork.
    """
    deadline_s = time.monotonic() + timeout_s
    peak_rss = 0
    while True:
        with contextlib.suppress(OSError):
            peak_rss = max(peak_rss, peak_rss_bytes(process.pid))
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline_s:
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    return ExitUsage(
        returncode=process.returncode,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_bytes=peak_rss,
    )


def has_exited(process: subprocess.Popen[bytes]) -> bool:
    """Whether ``process`` has exited, leaving it to be reaped (with its usage) by ``stop``."""
    found = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return found is not None


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> ExitUsage:
    """SIGTERM (a graceful stop for both feeder and the simulator), then wait.

    ``os.kill``, not ``Popen.send_signal``: that polls first and so reaps a process which has
    already exited, after which ``wait4`` has no usage to report (``ChildProcessError``). An
    exited but unreaped child keeps its pid, so the signal cannot reach another process.
    """
    os.kill(process.pid, signal.SIGTERM)
    return wait_with_usage(process, timeout_s)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class AdminClient:
    """The simulator's ``/_simulator/`` routes over one keep-alive connection."""

    def __init__(self, base_url: str) -> None:
        address = urlsplit(base_url)
        self._address = (address.hostname or "127.0.0.1", address.port)
        self._connection = http.client.HTTPConnection(*self._address)

    def call(self, method: str, route: str) -> dict[str, object]:
        try:
            self._connection.request(method, f"/_simulator/{route}")
            response = self._connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closes keep-alive connections idle for a few seconds.
            self._connection.close()
            self._connection = http.client.HTTPConnection(*self._address)
            self._connection.request(method, f"/_simulator/{route}")
            response = self._connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {route} answered {response.status}: {body[:200]!r}")
        document: dict[str, object] = orjson.loads(body)
        return document

    def get_bytes(self, path: str, token: str = "sim-token") -> bytes:  # noqa: S107 - the simulator's default
        self._connection.request("GET", path, headers={"authorization": f"Bearer {token}"})
        response = self._connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {body[:200]!r}")
        return body

    def close(self) -> None:
        self._connection.close()
