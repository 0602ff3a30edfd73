"""Ask a broker for cluster metadata over a raw socket (Kafka wire protocol, Metadata v4)."""

from __future__ import annotations

import socket
import struct

_METADATA_API_KEY = 3
_METADATA_VERSION = 4  # answered by brokers 1.0 to 4.x (4.x closes the connection on v0, KIP-896)
_CLIENT_ID = b"feeder-probe"


def _metadata_request(correlation_id: int) -> bytes:
    header = (
        struct.pack(">hhih", _METADATA_API_KEY, _METADATA_VERSION, correlation_id, len(_CLIENT_ID))
        + _CLIENT_ID
    )
    body = struct.pack(">ib", -1, 0)  # all topics, no auto-creation
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ConnectionError("broker closed the connection mid-response")
        chunks.extend(chunk)
    return bytes(chunks)


def count_brokers(host: str, port: int, timeout_s: float = 2.0) -> int:
    """Return how many brokers the metadata response lists; raise ``OSError`` if unreachable."""
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.settimeout(timeout_s)
        sock.sendall(_metadata_request(correlation_id=1))
        (size,) = struct.unpack(">i", _read_exactly(sock, 4))
        response = _read_exactly(sock, size)
    # correlation_id (int32), throttle_time_ms (int32), brokers array length (int32)
    _, _, broker_count = struct.unpack_from(">iii", response)
    return int(broker_count)
