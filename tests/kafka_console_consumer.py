"""Apache Kafka's own console consumer as a judge: what a topic holds, read by a client nobody
here wrote, at the isolation level the test names.

:func:`read_with_console_consumer` runs ``org.apache.kafka.tools.consumer.ConsoleConsumer``
from ``org.apache.kafka:kafka-tools`` of the broker's version (resolved by Maven into
``~/.cache/feeder/kafka/<version>/tools-libs`` on first use, see
:func:`feeder_devkit.localkafka.jars.tools_classpath`) and parses what it prints.

The formatter prints partition, offset, headers, key and value of each record, separated by
ASCII control characters (unit, group and record separator, and file separator as the null
literal) that cannot occur unescaped in JSON; a key or value holding one of them is refused
(:class:`ConsoleOutputError`) instead of being split wrongly. Header names must not contain
``:`` and header values no control characters: the formatter prints ``name:value`` and marks
a header's end only by the separator.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from feeder_devkit.localkafka import DEFAULT_KAFKA_VERSION
from feeder_devkit.localkafka.jars import tools_classpath

CONSOLE_CONSUMER_CLASS = "org.apache.kafka.tools.consumer.ConsoleConsumer"
_LOG4J_CONFIG = Path(__file__).with_name("kafka_console_consumer.log4j2.properties")

_COLUMN = "\x1f"  # unit separator: between partition, offset, headers, key and value
_HEADERS = "\x1d"  # group separator: between two headers
_LINE = "\x1e"  # record separator: after each record
_NULL = "\x1c"  # file separator: what a null key, value or header value prints as
_SEPARATORS = (_COLUMN, _HEADERS, _LINE, _NULL)
_NO_HEADERS = "NO_HEADERS"
_PROCESSED = re.compile(r"Processed a total of (\d+) messages")
# The tool ends every read that is not cut by --max-messages by catching an exception, logging it
# and exiting 0: the idle timeout (a TimeoutException it throws itself, without a message) and
# real failures (a wrong password, an unknown topic authorization) alike. Only the first is an end.
_TERMINATED = re.compile(r"Error processing message, terminating consumer process:[^\n]*\n([^\n]*)")
_IDLE_END = "org.apache.kafka.common.errors.TimeoutException: null"


class ConsoleConsumerError(AssertionError):
    """The console consumer failed, overran its deadline, or printed what cannot be parsed.

    An ``AssertionError`` so that pytest shows it as a failed check with its message."""


class ConsoleOutputError(ConsoleConsumerError):
    """A record's text holds a separator, or the output is cut or malformed."""


@dataclass(frozen=True, slots=True)
class ConsoleRecord:
    """One record as the console consumer printed it; ``None`` is Kafka's null (a tombstone's
    value, a record without a key, a header without a value)."""

    partition: int
    offset: int
    key: str | None
    headers: list[tuple[str, str | None]]
    value: str | None


@dataclass(frozen=True, slots=True)
class ConsoleRun:
    """Everything one run produced: the records, and how long the JVM took (seconds)."""

    records: list[ConsoleRecord]
    elapsed_s: float
    stderr: str


def read_with_console_consumer(
    bootstrap_servers: str,
    topic: str,
    *,
    isolation_level: Literal["read_committed", "read_uncommitted"],
    expected_count: int | None,
    timeout_s: float,
    idle_timeout_ms: int = 5000,
    consumer_properties: Mapping[str, str] | None = None,
    kafka_version: str = DEFAULT_KAFKA_VERSION,
) -> list[ConsoleRecord]:
    """Every record of ``topic`` from the beginning, as Apache Kafka's console consumer reads it.

    The consumer stops on the first of: ``expected_count`` records printed (``--max-messages``;
    it does not look past them), or ``idle_timeout_ms`` without a new record (``--timeout-ms``).
    With ``expected_count=None`` only the idle pause ends it: that reads everything readable,
    which is what an "exactly these records" assertion needs. The idle clock starts before the
    consumer has joined its group, so keep it well above a group join (seconds, not millis).
    ``timeout_s`` bounds the whole JVM run; past it the run is killed and
    :class:`ConsoleConsumerError` is raised.

    Each call uses a fresh consumer group the tool names itself (``console-consumer-<n>``, no
    offsets committed). ``consumer_properties`` (TLS, SASL, anything else) go to the consumer
    through ``--command-config``. Blocking: from async code call it through
    ``asyncio.to_thread``. The first call for a Kafka version resolves ``kafka-tools`` with
    Maven.
    """
    return run_console_consumer(
        bootstrap_servers,
        topic,
        isolation_level=isolation_level,
        expected_count=expected_count,
        timeout_s=timeout_s,
        idle_timeout_ms=idle_timeout_ms,
        consumer_properties=consumer_properties,
        kafka_version=kafka_version,
    ).records


def run_console_consumer(
    bootstrap_servers: str,
    topic: str,
    *,
    isolation_level: Literal["read_committed", "read_uncommitted"],
    expected_count: int | None,
    timeout_s: float,
    idle_timeout_ms: int = 5000,
    consumer_properties: Mapping[str, str] | None = None,
    kafka_version: str = DEFAULT_KAFKA_VERSION,
) -> ConsoleRun:
    """:func:`read_with_console_consumer`, with the run's duration and stderr."""
    java = shutil.which("java")
    if java is None:
        raise ConsoleConsumerError("java is not on PATH; install a Java 17+ JDK")
    libs = tools_classpath(kafka_version)
    formatter = {
        "print.partition": "true",
        "print.offset": "true",
        "print.headers": "true",
        "print.key": "true",
        "print.value": "true",
        "key.separator": _COLUMN,
        "headers.separator": _HEADERS,
        "line.separator": _LINE,
        "null.literal": _NULL,
    }
    with tempfile.TemporaryDirectory(prefix="feeder-console-consumer-") as work:
        command_config = Path(work) / "consumer.properties"
        command_config.write_text(_java_properties(consumer_properties or {}))
        command = [
            java,
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Xshare:auto",
            f"-Dlog4j2.configurationFile={_LOG4J_CONFIG}",
            "-cp",
            f"{libs}/*",
            CONSOLE_CONSUMER_CLASS,
            "--bootstrap-server",
            bootstrap_servers,
            "--topic",
            topic,
            "--from-beginning",
            "--isolation-level",
            isolation_level,
            "--timeout-ms",
            str(idle_timeout_ms),
            "--command-config",
            str(command_config),
            *(["--max-messages", str(expected_count)] if expected_count is not None else []),
            *_formatter_arguments(formatter),
        ]
        started = time.monotonic()
        try:
            result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                command, capture_output=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ConsoleConsumerError(
                f"the console consumer did not finish within {timeout_s} s (timeout_s):\n"
                f"{_text(exc.stderr)[-4000:]}"
            ) from exc
        elapsed_s = time.monotonic() - started
    stderr = result.stderr.decode(errors="replace")
    if result.returncode != 0:
        raise ConsoleConsumerError(
            f"the console consumer exited with {result.returncode}:\n{stderr[-4000:]}"
        )
    terminated = _TERMINATED.search(stderr)
    if terminated is not None and terminated.group(1).strip() != _IDLE_END:
        raise ConsoleConsumerError(
            f"the console consumer stopped on an error, not on its idle timeout: "
            f"{terminated.group(1).strip()}\n{stderr[-4000:]}"
        )
    records = parse_console_output(result.stdout)
    processed = _PROCESSED.search(stderr)
    if processed is None:
        raise ConsoleOutputError(f"the console consumer did not say what it processed:\n{stderr}")
    if int(processed.group(1)) != len(records):
        raise ConsoleOutputError(
            f"the console consumer says it processed {processed.group(1)} records but printed "
            f"{len(records)} that parse:\n{stderr[-4000:]}"
        )
    return ConsoleRun(records, elapsed_s, stderr)


def parse_console_output(stdout: bytes) -> list[ConsoleRecord]:
    """The records in what the console consumer printed with this module's formatter settings."""
    text = stdout.decode("utf-8")
    if not text:
        return []
    *printed, rest = text.split(_LINE)
    if rest:
        raise ConsoleOutputError(f"the output ends in an unfinished record: {rest[-500:]!r}")
    return [_parse_record(line) for line in printed]


def _parse_record(line: str) -> ConsoleRecord:
    columns = line.split(_COLUMN)
    if len(columns) != 5:
        raise ConsoleOutputError(
            f"a record printed {len(columns)} columns, not 5 (partition, offset, headers, key, "
            f"value): a key, value or header holds a control character: {line[:500]!r}"
        )
    partition, offset, headers, key, value = columns
    if not partition.startswith("Partition:") or not offset.startswith("Offset:"):
        raise ConsoleOutputError(f"no partition or offset where expected: {line[:500]!r}")
    return ConsoleRecord(
        partition=int(partition.removeprefix("Partition:")),
        offset=int(offset.removeprefix("Offset:")),
        key=_nullable(key, line),
        headers=_parse_headers(headers, line),
        value=_nullable(value, line),
    )


def _parse_headers(printed: str, line: str) -> list[tuple[str, str | None]]:
    if printed == _NO_HEADERS:
        return []
    headers: list[tuple[str, str | None]] = []
    for header in printed.split(_HEADERS):
        name, colon, value = header.partition(":")
        if not colon:
            raise ConsoleOutputError(f"a header without 'name:': {header!r} in {line[:500]!r}")
        headers.append((name, _nullable(value, line)))
    return headers


def _nullable(printed: str, line: str) -> str | None:
    if printed == _NULL:
        return None
    if any(separator in printed for separator in _SEPARATORS):
        raise ConsoleOutputError(f"a field holds a separator character: {line[:500]!r}")
    return printed


def _formatter_arguments(formatter: Mapping[str, str]) -> list[str]:
    pairs = (("--formatter-property", f"{name}={value}") for name, value in formatter.items())
    return [arg for pair in pairs for arg in pair]


def _java_properties(properties: Mapping[str, str]) -> str:
    """``properties`` in ``java.util.Properties`` file syntax (every special character escaped)."""
    return "".join(f"{_escape(key)}={_escape(value)}\n" for key, value in properties.items())


def _escape(text: str) -> str:
    escaped = text.replace("\\", "\\\\")
    for char, replacement in {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}.items():
        escaped = escaped.replace(char, replacement)
    for char in "=: #!":
        escaped = escaped.replace(char, "\\" + char)
    return escaped


def _text(output: bytes | str | None) -> str:
    if output is None:
        return ""
    return output if isinstance(output, str) else output.decode(errors="replace")
