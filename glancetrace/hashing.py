"""Hashing image bytes on another core while the pass decodes the next packets.

Hashing gigabytes of image data is about half the work of a pass.  The HTTP
decoder gathers body bytes into 1 MiB batches (protocols/http/digests.py) and
hands each to the pass's `BackgroundHashing`, whose one thread hashes them
while the main thread decodes on.  Between its three updates the thread must
take the GIL back, which can wait a whole switch interval (5 ms by default)
while the decoder runs, so for the length of a pass the interval is 0.5 ms:
on the 2 GiB bench capture the pass took 10.8 s instead of 15.8 s
(benchmarks/bench_hashing.py; bigger batches, 4 MiB, gave 12.6 s without it and
nothing more with it).  One thread and a FIFO queue keep every digest's
updates in order; a bound on bytes in flight keeps memory flat when hashing
falls behind.  benchmarks/bench_http.py shows the effect.
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from .protocols.http.digests import BATCH

MAX_IN_FLIGHT = 16 << 20  # bytes queued for hashing before the decoder waits
SWITCH_INTERVAL = 0.0005  # seconds: how soon the hashing thread gets the GIL back


def _update(hashes: tuple, data: bytes, room: threading.BoundedSemaphore) -> None:
    try:
        for h in hashes:
            h.update(data)
    finally:
        room.release()


class BackgroundHashing:
    """A pass's hashing thread (see the module's docstring); use it as a context manager."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._room = threading.BoundedSemaphore(MAX_IN_FLIGHT // BATCH)
        self._old_interval: float | None = None

    def __enter__(self) -> "BackgroundHashing":
        self._old_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._old_interval, SWITCH_INTERVAL))
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        sys.setswitchinterval(self._old_interval)

    def submit(self, hashes: tuple, data: bytes | bytearray) -> Future:
        if self._pool is None:  # made on first use: passes without large bodies start no thread
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glancetrace-hash")
        self._room.acquire()
        return self._pool.submit(_update, hashes, data, self._room)

    def wait(self, ticket: Future) -> None:
        ticket.result()
