"""Start, probe and stop one KRaft node (combined broker + controller) in a throwaway folder."""

from __future__ import annotations

import contextlib
import ctypes
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from feeder_devkit.localkafka.jars import broker_classpath
from feeder_devkit.localkafka.probe import count_brokers
from feeder_devkit.localkafka.security import BrokerSecurity

DEFAULT_KAFKA_VERSION = "4.4.0"
_LOG4J_CONFIG = Path(__file__).with_name("log4j2.yaml")
_PR_SET_PDEATHSIG = 1


class BrokerStartError(RuntimeError):
    """The broker did not become ready; the message carries the tail of its log."""


_LISTEN_PORTS = range(20000, 32768)
"""Below Linux's ephemeral range (32768-60999 by default), from which the kernel picks the local
port of every outgoing connection: a port handed out there can be taken by some client's
connection before its server binds it (or binds it again after a restart)."""


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, outside the ephemeral range,
    and not handed out before by this process (a broker asks for several before binding any)."""
    for port in random.sample(_LISTEN_PORTS, 200):
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise OSError(f"no free port in {_LISTEN_PORTS.start}-{_LISTEN_PORTS.stop - 1}")


_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kafka-broker-spawner")
"""Starts every broker's JVM. The death signal set below is sent when the *thread* that started
the child exits, not the process (prctl(2), PR_SET_PDEATHSIG): a broker started from a
short-lived thread (a test's thread pool) was killed when that thread ended. This thread lives
as long as the process."""


def _die_with_parent() -> None:
    """Runs in the child before exec: the JVM gets SIGKILL when the starting process dies.

    This is what keeps an interrupted or killed test run from leaving an orphaned JVM.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _server_properties(
    data_dir: Path,
    port: int,
    controller_port: int,
    security: BrokerSecurity | None,
    secured_ports: dict[str, int],
) -> str:
    listeners = {"PLAINTEXT": "PLAINTEXT", **(security.listeners() if security else {})}
    ports = {"PLAINTEXT": port, **secured_ports}
    addresses = [f"{name}://127.0.0.1:{ports[name]}" for name in listeners]
    protocol_map = [f"{name}:{protocol}" for name, protocol in listeners.items()]
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": ",".join([*addresses, f"CONTROLLER://127.0.0.1:{controller_port}"]),
        "advertised.listeners": ",".join(addresses),
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": ",".join([*protocol_map, "CONTROLLER:PLAINTEXT"]),
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data_dir / "log"),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        # The log cleaner looks for work every second instead of every 15 s: compaction (the
        # state topic's tombstones) shows within a test's patience. Cheap on a local broker.
        "log.cleaner.backoff.ms": "1000",
        **(security.server_properties() if security else {}),
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _cluster_id(data_dir: Path) -> str:
    """The data folder's cluster id, made on first use: a restart over the same folder must
    format with the same one (Kafka 4 refuses another)."""
    remembered = data_dir / "cluster.id"
    if not remembered.exists():
        remembered.write_text(str(uuid.uuid4()))
    return remembered.read_text().strip()


class LocalKafkaBroker:
    """A context manager owning one broker JVM and its data folder.

    ``start()`` blocks until the broker lists itself in a metadata response; ``stop()`` is
    idempotent, sends SIGTERM, waits ``stop_timeout_s`` and then kills the JVM. With
    ``security``, secured listeners open beside PLAINTEXT (see
    :mod:`feeder_devkit.localkafka.security`); ``bootstrap_servers_of(name)`` is the address of one.
    """

    def __init__(
        self,
        *,
        version: str = DEFAULT_KAFKA_VERSION,
        port: int | None = None,
        controller_port: int | None = None,
        data_dir: Path | None = None,
        security: BrokerSecurity | None = None,
        heap_mb: int = 512,
        start_timeout_s: float = 90.0,
        stop_timeout_s: float = 20.0,
    ) -> None:
        self.version = version
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self._given_data_dir = data_dir
        self.security = security
        listeners = security.listeners() if security else {}
        self._secured_ports = {name: free_port() for name in listeners}
        self._heap_mb = heap_mb
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._data_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Path | None = None
        self.startup_s: float | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def bootstrap_servers_of(self, listener: str) -> str:
        """The address of a secured listener (``SSL``, ``MTLS``, ``SASL_SSL``, ``OAUTH``)."""
        if listener == "PLAINTEXT":
            return self.bootstrap_servers
        if listener not in self._secured_ports:
            raise KeyError(f"this broker has no {listener} listener")
        return f"127.0.0.1:{self._secured_ports[listener]}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the broker (on the same ports and, with ``data_dir``, the same data as before a
        ``stop()``); nothing to do while it runs."""
        if self.running:
            return
        started = time.monotonic()
        libs = broker_classpath(self.version)
        self._data_dir = self._given_data_dir or Path(tempfile.mkdtemp(prefix="feeder-kafka-"))
        self._data_dir.mkdir(parents=True, exist_ok=True)
        properties = self._data_dir / "server.properties"
        properties.write_text(
            _server_properties(
                self._data_dir, self.port, self.controller_port, self.security, self._secured_ports
            )
        )
        self._log_file = self._data_dir / "broker.log"
        java = shutil.which("java")
        if java is None:
            raise BrokerStartError("java is not on PATH; install a Java 17+ JDK")
        classpath = f"{libs}/*"
        log_config = f"-Dlog4j2.configurationFile={_LOG4J_CONFIG}"
        self._format_storage(java, classpath, log_config, properties)
        with self._log_file.open("ab") as log:
            self._process = _SPAWNER.submit(
                subprocess.Popen,
                [
                    java,
                    f"-Xmx{self._heap_mb}m",
                    f"-Xms{min(self._heap_mb, 256)}m",
                    "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1",
                    "-Xshare:auto",
                    *(self.security.jvm_properties() if self.security else []),
                    log_config,
                    "-cp",
                    classpath,
                    "kafka.Kafka",
                    str(properties),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a terminal's Ctrl-C reaches us, not the JVM, so the broker
                # outlives the clients that are still flushing; we stop it last.
                start_new_session=True,
                preexec_fn=_die_with_parent,  # only calls prctl before exec
            ).result()
        try:
            self._wait_ready(self._process, started)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started

    def _format_storage(self, java: str, classpath: str, log_config: str, props: Path) -> None:
        result = subprocess.run(  # noqa: S603 - fixed argument list, no shell
            [
                java,
                log_config,
                "-cp",
                classpath,
                "kafka.tools.StorageTool",
                "format",
                "--ignore-formatted",
                "-t",
                _cluster_id(props.parent),
                "-c",
                str(props),
                *(self.security.storage_format_arguments() if self.security else []),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerStartError(
                f"formatting the KRaft storage failed:\n{result.stdout}{result.stderr}"
            )

    def _wait_ready(self, process: subprocess.Popen[bytes], started: float) -> None:
        while time.monotonic() - started < self._start_timeout_s:
            if process.poll() is not None:
                raise BrokerStartError(
                    f"the broker exited with {process.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError, ConnectionError):
                if count_brokers("127.0.0.1", self.port) > 0:
                    return
            time.sleep(0.2)
        raise BrokerStartError(
            f"the broker did not answer a metadata request within {self._start_timeout_s} s:\n"
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = 40) -> str:
        if self._log_file is None or not self._log_file.exists():
            return "(no broker log)"
        return "\n".join(self._log_file.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self._stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._data_dir is not None and self._given_data_dir is None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def __enter__(self) -> LocalKafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
