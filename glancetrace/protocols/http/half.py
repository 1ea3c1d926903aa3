"""One direction's HTTP message parser state, shared by the decoder's parts."""

from __future__ import annotations

from .body import BodySink
from .events import HttpTransaction

HEAD_MAX = 64 * 1024  # a header block longer than this is treated as garbage
LINE_MAX = 8192  # chunk-size and trailer lines
RESYNC_TAIL = 8192  # bytes kept between segments while scanning for a start line

# parser states
HEAD, LENGTH, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILER, UNTIL_CLOSE, RESYNC, OPAQUE = range(9)


class _Half:
    """Parser state of one direction."""

    __slots__ = ("side", "state", "buf", "tx", "sink", "remaining", "wire", "first_ts", "first_frame",
                 "skipped", "expect_wait", "started")

    def __init__(self, side: int):
        self.side = side  # 0 requests, 1 responses
        self.state = HEAD
        self.buf = bytearray()  # partial head / line / resync tail
        self.tx: HttpTransaction | None = None  # message being read
        self.sink: BodySink | None = None
        self.remaining = 0
        self.wire = 0
        self.first_ts = 0.0
        self.first_frame = 0
        self.skipped = 0  # bytes thrown away while resynchronising
        self.expect_wait = False  # request body announced with Expect: 100-continue
        self.started = False  # a message start was parsed on this side
