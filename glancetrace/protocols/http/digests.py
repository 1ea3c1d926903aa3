"""md5, sha256 and sha512 of a body as it streams by.

The body's sink (http/body.py) gathers segments into 1 MiB batches (hashlib
releases the GIL only for updates of 2 KiB or more, and TCP segments are
~1.4 KiB) and each batch goes
to a hasher handed in by whoever made the decoder: `InlineHashing` hashes in
the caller's thread; the pipeline hands in one that hashes on another core
(glancetrace/hashing.py).  A digest waits only for its own last batch.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

BATCH = 1 << 20


class Hashing(Protocol):
    def submit(self, hashes: tuple, data: bytes | bytearray) -> object:
        """Update every hash of `hashes` with `data` (the caller lets go of it), in submission order; returns
        a ticket."""

    def wait(self, ticket: object) -> None:
        """Return once the batch of `ticket`, and every batch submitted before it, is hashed."""


class InlineHashing:
    """Hashes at once, in the caller's thread."""

    def submit(self, hashes: tuple, data: bytes | bytearray) -> None:
        for h in hashes:
            h.update(data)

    def wait(self, ticket: object) -> None:
        pass


class StreamDigests:
    """The three hashes of one body, fed whole batches (the body's sink gathers the segments: http/body.py)."""

    __slots__ = ("_hashes", "_last", "_hashing")

    def __init__(self, hashing: Hashing) -> None:
        self._hashes = (hashlib.md5(), hashlib.sha256(), hashlib.sha512())
        self._last = None  # the newest batch's ticket; finishing waits for it
        self._hashing = hashing

    def submit(self, batch: bytearray) -> None:
        """A full batch, handed over (not copied): the caller fills a new one next."""
        self._last = self._hashing.submit(self._hashes, batch)

    def hexdigests(self, rest: bytes | bytearray) -> tuple[str, str, str]:
        """The digests once `rest`, the batch not submitted, is hashed too."""
        if self._last is not None:
            self._hashing.wait(self._last)
        for h in self._hashes:
            h.update(rest)
        return tuple(h.hexdigest() for h in self._hashes)
