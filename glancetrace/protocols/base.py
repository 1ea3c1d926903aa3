"""The contract every sans-I/O protocol decoder follows, and what every event says about its origin.

A decoder is made per TCP connection and never touches files, sockets,
threads or process-wide settings: what it needs from outside (key material,
a body hasher) is handed in by whoever made it.  Bytes come in with the
timestamp and Wireshark frame number of the segment that carried them; typed
events (dataclasses) come out.  `data` may be a memoryview valid only during
the call: a decoder copies what it keeps.

Every event is a `ConnectionEvent`: it names its capture and connection
itself, and says where its frames start (`first_frame`).  An event does not
change once a decoder has returned it; a layer that needs other values (a
merge renumbering streams) makes a new event with `dataclasses.replace`.

direction: 0 = client → server, 1 = server → client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class ConnectionEvent:
    conn_id: int  # TCP stream number within its capture (Wireshark tcp.stream)
    client: str  # "ip:port"
    server: str
    # index of the capture (in the order given) the stream and frame numbers refer to
    capture: int = field(default=0, kw_only=True)

    @property
    def first_frame(self) -> int:
        """The first frame this event covers (0 when it has none): the order of events within a
        connection."""
        raise NotImplementedError


@dataclass
class SwitchToTls(ConnectionEvent):
    """The connection turns into TLS from the next bytes on (MySQL's SSL request).  The decoder
    that emits it reads no more of the connection: its owner stacks a TLS decoder on it and
    feeds that the segment again (the TLS decoder skips plaintext before the ClientHello)."""

    time: float = 0.0
    frame: int = 0

    @property
    def first_frame(self) -> int:
        return self.frame


class Decoder(Protocol):
    def feed(self, direction: int, data: bytes | memoryview, ts: float, frame: int) -> list: ...

    def gap(self, direction: int, nbytes: int, ts: float, frame: int) -> list:
        """`nbytes` bytes of this direction were not captured (packet loss, snaplen)."""

    def close(self, ts: float, frame: int, reason: str = "") -> list:
        """The connection ended (fin, rst, end of capture): flush what is pending."""


def frames_start(*ranges: tuple[int, int] | None) -> int:
    """The first frame of the first range present."""
    for fr in ranges:
        if fr:
            return fr[0]
    return 0
