"""Which protocol a connection on an unlisted port speaks, from what either side sends.

A connection on a port the options do not name gets a `Sniffer` as its TCP handler.  It holds
what arrives (data and gaps, both directions, in order) and looks for evidence:

* an HTTP request line or status line at a line start, anywhere in either direction (a capture
  may start with the server's reply, in the middle of a body, or lose its first segments);
* a TLS handshake record (ClientHello or ServerHello) as the first bytes of a direction;
* a MySQL server greeting as the first bytes of a direction.

Once decided, the chosen decoder gets everything held, in order, so it decodes exactly as it
would on a listed port, and becomes the connection's handler.  The evidence also says which
side is the client: on a connection seen without its handshake, where the reassembler could
only guess from the port numbers, a request line sent by the "server" swaps the roles.

Cheap on big captures: a connection whose handshake was captured is given up as soon as the
server's first bytes are neither a status line nor a TLS hello or MySQL greeting (a garbled
request still gets a status line back); only connections seen from their middle, or of which
only the client side shows, are searched further.  At most KEEP_BYTES are held (beyond that
only the latest segment of each direction is kept, and decoding starts there, as if the
capture had started there), and after LOOK_BYTES or LOOK_EVENTS without evidence the
connection is given up for good.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from .protocols.http.head import find_request_start, find_status_start

KEEP_BYTES = 64 << 10  # bytes held for the decoder while undecided
LOOK_BYTES = 8 << 20  # bytes examined before a connection is given up as not ours
LOOK_EVENTS = 8192  # data deliveries and gaps examined, for streams of tiny segments
LINE_TAIL = 8192  # a start line may straddle two segments: this much of the last partial line is kept

HTTP, TLS, MYSQL = "http", "tls", "mysql"


class Roles(NamedTuple):
    """What a decoder is told about its connection; the endpoints swapped when the evidence
    shows the reassembler guessed the roles wrong."""
    stream: int
    client: str
    server: str


def tls_hello_sender(head: bytes) -> int | None:
    """0 when `head` starts with a TLS handshake record carrying a ClientHello, 1 for a
    ServerHello (the client's was not captured), else None."""
    if len(head) < 6 or head[0] != 0x16 or head[1] != 3 or head[2] > 4:
        return None
    return {1: 0, 2: 1}.get(head[5])


def is_mysql_greeting(head: bytes) -> bool:
    """A MySQL/MariaDB initial handshake packet (protocol 10): packet number 0, a printable
    server version starting with a digit and ended by NUL, a plausible length."""
    if len(head) < 12 or head[3] != 0 or head[4] != 10:
        return False
    length = head[0] | head[1] << 8 | head[2] << 16
    end = head.find(b"\0", 5, 5 + 64)
    version = head[5:end]
    return (30 <= length <= 1024 and end > 5 and version[:1].isdigit()
            and all(0x20 <= c < 0x7F for c in version))


def http_evidence(data: bytes, side: int, seg_start: int = 0) -> int | None:
    """Which side is the client when `data` (sent by `side`, starting at a line start, a new
    segment at `seg_start`) holds an HTTP request line or status line, else None."""
    req = find_request_start(data, True, seg_start)
    status = find_status_start(data, True, seg_start)
    if req < 0 and status < 0:
        return None
    return side if status < 0 or 0 <= req < status else 1 - side


def could_start_response(head: bytes) -> bool:
    """Whether a server's first bytes may begin an HTTP status line not whole yet (stray
    CRLFs may come first, RFC 9112 2.2)."""
    head = head.lstrip(b"\r\n")[:5]
    return b"HTTP/".startswith(head) or b"http/".startswith(head)


class _Ignored:
    """Handler of a connection given up: counted by the reassembler, never decoded.  (Not
    None: the reassembler may call the handler again within the same segment.)"""

    __slots__ = ()

    def data(self, direction, payload, ts, frame):
        pass

    def gap(self, direction, nbytes, ts, frame):
        pass

    def close(self, ts, frame, reason):
        pass


IGNORED = _Ignored()


class Flipped:
    """Hands a decoder the directions swapped (the capture's "client" is the real server)."""

    __slots__ = ("inner",)

    def __init__(self, inner):
        self.inner = inner

    def data(self, direction, payload, ts, frame):
        self.inner.data(1 - direction, payload, ts, frame)

    def gap(self, direction, nbytes, ts, frame):
        self.inner.gap(1 - direction, nbytes, ts, frame)

    def close(self, ts, frame, reason):
        self.inner.close(ts, frame, reason)


class Sniffer:
    """TCP handler of a connection on an unlisted port until its protocol is known.

    `build(kind, roles)` returns the handler for a protocol (or None when that protocol is
    not wanted); `kinds` are the protocols to look for."""

    __slots__ = ("conn", "build", "kinds", "held", "held_bytes", "looked", "events", "tails", "fresh")

    def __init__(self, conn, build: Callable[[str, Roles], object | None], kinds: frozenset[str]):
        self.conn, self.build, self.kinds = conn, build, kinds
        self.held: list[tuple[bool, int, bytes | int, float, int]] = []  # (is_data, dir, bytes|gap, ts, frame)
        self.held_bytes = 0
        self.looked = 0
        self.events = 0
        self.tails = [b"", b""]  # last partial line of each direction
        self.fresh = [True, True]  # nothing of this direction seen yet

    def data(self, direction, payload, ts, frame):
        chunk = bytes(payload)
        self.held.append((True, direction, chunk, ts, frame))
        self.held_bytes += len(chunk)
        self.looked += len(chunk)
        self.events += 1
        found = self._evidence(direction, chunk)
        if found is not None:
            if found[0] is None:
                self._give_up()
            else:
                self._decide(*found)
        elif self.looked > LOOK_BYTES or self.events > LOOK_EVENTS:
            self._give_up()
        elif self.held_bytes > KEEP_BYTES:
            self._trim()

    def gap(self, direction, nbytes, ts, frame):
        self.held.append((False, direction, nbytes, ts, frame))
        self.tails[direction] = b""
        self.fresh[direction] = False  # what follows a gap is not the start of the stream
        self.events += 1
        if self.events > LOOK_EVENTS:
            self._give_up()

    def close(self, ts, frame, reason):
        self.held = []  # never decided: nothing to report

    # -- evidence -----------------------------------------------------------------

    def _evidence(self, side: int, chunk: bytes) -> tuple[str | None, int] | None:
        """(protocol, client side) when this chunk settles it; (None, 0) when it rules out
        everything looked for."""
        kinds = self.kinds
        opening = self.fresh[side]
        if opening:
            self.fresh[side] = False
            if TLS in kinds:
                sender = tls_hello_sender(chunk)
                if sender is not None:
                    return TLS, side if sender == 0 else 1 - side
            if MYSQL in kinds and is_mysql_greeting(chunk):
                return MYSQL, 1 - side
        if HTTP not in kinds:
            return None, 0  # TLS and MySQL show at a side's first bytes or not at all
        if opening and side == 1 and not self.conn.midstream and not could_start_response(chunk):
            # the handshake named the server and these are its first bytes: an HTTP server
            # answers with a status line (or this very segment shows a request line)
            if http_evidence(chunk, side) is None:
                return None, 0
        tail = self.tails[side]
        data = tail + chunk if tail else chunk
        client = http_evidence(data, side, len(tail))
        if client is not None:
            return HTTP, client
        nl = data.rfind(b"\n")
        self.tails[side] = data[nl + 1:] if len(data) - nl - 1 <= LINE_TAIL else b""
        return None

    # -- outcomes -----------------------------------------------------------------

    def _decide(self, kind: str, client_side: int) -> None:
        conn = self.conn
        # the handshake, when seen, named the client; without it the evidence does
        flip = client_side == 1 and conn.midstream
        roles = Roles(conn.stream, conn.server, conn.client) if flip else Roles(conn.stream, conn.client, conn.server)
        handler = self.build(kind, roles)
        if handler is None:
            self._give_up()
            return
        if flip:
            handler = Flipped(handler)
        held, self.held = self.held, []
        for is_data, d, what, ts, frame in held:
            if is_data:
                handler.data(d, memoryview(what), ts, frame)
            else:
                handler.gap(d, what, ts, frame)
        conn.handler = handler

    def _give_up(self) -> None:
        self.held = []
        self.conn.handler = IGNORED

    def _trim(self) -> None:
        """Keep only the latest data of each direction (a start line may begin in it): decoding
        will start there, as on a capture that started there."""
        last = {ev[1]: ev for ev in self.held if ev[0]}
        keep = {id(ev) for ev in last.values()}
        self.held = [ev for ev in self.held if id(ev) in keep]
        self.held_bytes = sum(len(ev[2]) for ev in self.held)
