"""Joining an existing Ray cluster: fail fast with one line when its address cannot be reached.

``ray.init(address=...)`` retries an unreachable GCS for minutes with log lines of its own; a TCP
connect with a timeout says the same in seconds.
"""

from __future__ import annotations

import socket

from lusomix.errors import UsageError


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """``host:port`` or ``ray://host:port``; ``auto`` (Ray finds a local cluster) is left to Ray."""
    if not address or address == "auto":
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"Ray address must be host:port, ray://host:port or auto, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {err.strerror or err}") from None
