"""md5, sha256 and sha512 of a body, computed on another core while decoding goes on.

Hashing gigabytes of image data is about half the work of a pass.  hashlib
releases the GIL for updates of 2 KiB or more, but TCP segments are ~1.4 KiB,
so segments are gathered into 1 MiB batches and a background thread hashes
each batch while the main thread decodes the next packets.  Between its three
updates the thread must take the GIL back, which can wait a whole switch
interval (5 ms by default) while the decoder runs, so a pass shortens the
interval to 0.5 ms (`responsive_gil`): on the 2 GiB bench capture the pass
took 10.8 s instead of 15.8 s (benchmarks/bench_hashing.py; bigger batches,
4 MiB, gave 12.6 s without it and nothing more with it).  One thread and
a FIFO queue keep every digest's updates in order; a bound on bytes in flight
keeps memory flat when hashing falls behind.  benchmarks/bench_http.py shows
the effect.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

BATCH = 1 << 20
MAX_IN_FLIGHT = 16 << 20  # bytes queued for hashing before the decoder waits

_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_room = threading.BoundedSemaphore(MAX_IN_FLIGHT // BATCH)


def _executor() -> ThreadPoolExecutor:
    global _pool, _pool_pid, _room
    if _pool is None or _pool_pid != os.getpid():  # a forked worker needs its own thread
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glancetrace-hash")
        _pool_pid = os.getpid()
        _room = threading.BoundedSemaphore(MAX_IN_FLIGHT // BATCH)
    return _pool


@contextmanager
def responsive_gil(interval: float = 0.0005):
    """For the length of a pass: a thread waiting for the GIL gets it within `interval`
    (Python's default is 5 ms), so the hashing thread is not held up by the decoder."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(min(old, interval))
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _update(hashes, data: bytes, room) -> None:
    try:
        for h in hashes:
            h.update(data)
    finally:
        room.release()


class StreamDigests:
    __slots__ = ("_hashes", "_buf", "_last")

    def __init__(self) -> None:
        self._hashes = (hashlib.md5(), hashlib.sha256(), hashlib.sha512())
        self._buf = bytearray()
        self._last = None  # the newest queued batch; finishing waits for it

    def update(self, data) -> None:
        buf = self._buf
        buf += data
        if len(buf) >= BATCH:
            pool = _executor()
            _room.acquire()
            self._last = pool.submit(_update, self._hashes, bytes(buf), _room)
            buf.clear()

    def hexdigests(self) -> tuple[str, str, str]:
        if self._last is not None:
            self._last.result()  # FIFO: every earlier batch is done too
        for h in self._hashes:
            h.update(self._buf)
        self._buf = bytearray()
        return tuple(h.hexdigest() for h in self._hashes)
