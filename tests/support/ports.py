"""Ports for servers that cannot bind port 0 and report it (Prometheus, Alertmanager and its
cluster port, an exporter restarted at the same address).

Binding port 0, reading the number and closing leaves a window in which the kernel hands the
same number to something else, and on a busy machine it does: the source port of any outgoing
connection comes from the same ephemeral range (32768-60999 on Linux). So ports come from
below that range, each pytest-xdist worker from its own slice (gw0: 20000-20999, gw1:
21000-21999, ...), starting at a random offset, each checked free with a bind, and never handed
out twice by one process.
"""

from __future__ import annotations

import os
import random
import socket

BASE, SLICE, SLICES = 20000, 1000, 12  # 20000-31999: below the ephemeral range
_given: set[int] = set()


def _slice() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # gw0, gw1, ... (gw0 when serial)
    return int(worker.removeprefix("gw") or 0) % SLICES


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on and this process has not handed out."""
    start = BASE + _slice() * SLICE
    offset = random.randrange(SLICE)
    for i in range(SLICE):
        port = start + (offset + i) % SLICE
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {start}-{start + SLICE - 1}")
