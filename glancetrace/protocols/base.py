"""The contract every sans-I/O protocol decoder follows.

A decoder is made per TCP connection and never touches files or sockets.
Bytes come in with the timestamp and Wireshark frame number of the segment
that carried them; typed events (dataclasses) come out.  `data` may be a
memoryview valid only during the call: a decoder copies what it keeps.

direction: 0 = client → server, 1 = server → client.
"""

from __future__ import annotations

from typing import Protocol


class Decoder(Protocol):
    def feed(self, direction: int, data: bytes | memoryview, ts: float, frame: int) -> list: ...

    def gap(self, direction: int, nbytes: int, ts: float, frame: int) -> list:
        """`nbytes` bytes of this direction were not captured (packet loss, snaplen)."""

    def close(self, ts: float, frame: int, reason: str = "") -> list:
        """The connection ended (fin, rst, end of capture): flush what is pending."""
