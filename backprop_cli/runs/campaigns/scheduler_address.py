"""The address of a Dask scheduler (``tcp://HOST:PORT``), checked before any connection is tried:
a mistyped one is refused at once instead of after the connection's timeout."""

from __future__ import annotations

import re

#: The protocols Dask's scheduler listens on.
PROTOCOLS = ("tcp", "tls", "ucx", "ws", "wss")
_ADDRESS = re.compile(
    r"(?:(?P<protocol>[A-Za-z][A-Za-z0-9+.-]*)://)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]+)"
)


def address_problem(address: str) -> str:
    """What is wrong with ``address`` as a scheduler's address ("" when nothing is)."""
    example = "give [PROTOCOL://]HOST:PORT, e.g. tcp://10.0.0.5:8786"
    found = _ADDRESS.fullmatch(address.strip())
    if found is None:
        return f"{address!r} is not the address of a Dask scheduler; {example}"
    protocol = (found["protocol"] or "tcp").lower()
    if protocol not in PROTOCOLS:
        return (
            f"{address!r}: Dask's scheduler does not speak {protocol}://; use one of "
            f"{', '.join(p + '://' for p in PROTOCOLS)}"
        )
    port = int(found["port"])
    if not 1 <= port <= 65535:
        return f"{address!r}: {port} is not a port number (1 to 65535); {example}"
    return ""


def tcp_endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) of a ``tcp://`` address (or one without a protocol); None for another."""
    found = _ADDRESS.fullmatch(address.strip())
    if found is None or (found["protocol"] or "tcp").lower() != "tcp":
        return None
    return found["host"].strip("[]"), int(found["port"])
