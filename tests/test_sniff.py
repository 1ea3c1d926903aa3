"""Sniffing of connections on unlisted ports (glancetrace/sniff.py).

The rule checked throughout: a sniffed connection decodes exactly as it would on a listed
port, whichever way its capture starts (with the server's reply, one side only, out of order,
across the sequence-number wrap, with a gap, in the middle of a body).
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import dpkt
import pytest

from glancetrace import sniff
from glancetrace.pipeline import Options, decode
from glancetrace.protocols.http import HttpTransaction
from glancetrace.protocols.mysql.events import MysqlHandshake, SqlStatement
from glancetrace.protocols.tls.events import TlsSession
from tests.sniffcaps import BODY, record
from tests.support import rig
from tests.support.loopback import tshark_fields

M32 = 0xFFFFFFFF
NOTHING_LISTED = {"http_ports": set(), "tls_ports": set(), "mysql_ports": set()}


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
    pytest.importorskip("dpkt")
    return record(tmp_path_factory.mktemp("sniff"))


def txs(path, **kw) -> list[HttpTransaction]:
    return decode(str(path), Options(want_mysql=False, **kw)).of_type(HttpTransaction)


def listed(path, port) -> list[HttpTransaction]:
    """The decode with the port named: what sniffing must reproduce."""
    return txs(path, http_ports={port}, sniff_other_ports=False)


def facts(ts: list[HttpTransaction]) -> list[tuple]:
    return [(t.method, t.uri, t.status, t.request_body.md5, t.client, t.server, t.gap) for t in ts]


# -- real loopback recordings ---------------------------------------------------------------


def test_reply_first_with_roles_guessed_wrong(recs):
    """The capture starts while the server thinks: its reply is the first data, and without
    the handshake the port guess takes the server (high port) for the client."""
    path, port = recs.path("reply_first"), recs.server_port
    res = decode(path, Options(want_mysql=False))
    (conn,) = res.connections
    assert conn.midstream and conn.client.endswith(f":{port}")  # the guess is wrong ...
    got = res.of_type(HttpTransaction)
    client, server = f"127.0.0.1:{recs.client_ports[1]}", f"127.0.0.1:{port}"
    assert facts(got) == [  # ... and the evidence puts it right
        (None, None, 200, None, client, server, False),
        ("PUT", "/upload", 201, hashlib.md5(BODY).hexdigest(), client, server, False),
        ("GET", "/json", 200, None, client, server, False)]
    assert got == listed(path, port)


@pytest.mark.parametrize("side", ["server_only", "client_only"])
def test_one_side_only(recs, side):
    path = recs.path(side)
    got = txs(path)
    if side == "server_only":
        assert [(t.method, t.status) for t in got] == [(None, 200), (None, 201), (None, 404)]
    else:
        assert [(t.method, t.uri, t.status) for t in got] == [
            ("GET", "/json", None), ("PUT", "/upload", None), ("GET", "/missing", None)]
        assert got[1].request_body.md5 == hashlib.md5(BODY).hexdigest()
    assert got == listed(path, recs.server_port)


# -- the whole recording, damaged ------------------------------------------------------------


def _frames(path):
    with open(path, "rb") as f:
        r = dpkt.pcap.Reader(f)
        return r.datalink(), [(ts, dpkt.ethernet.Ethernet(buf)) for ts, buf in r]


def _write(path, linktype, frames) -> str:
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=linktype)
        for ts, eth in frames:
            w.writepkt(bytes(eth), ts)
    return str(path)


def _client_data(frames, port) -> list[int]:
    return [i for i, (_, e) in enumerate(frames) if e.data.data.dport == port and e.data.data.data]


def _out_of_order(frames, port):
    """The capture starts at the upload, its head captured after its first body segment (the
    reassembler starts the stream at the body: the late head counts as a retransmission)."""
    a, b = _client_data(frames, port)[1:3]
    frames = list(frames)
    frames[a], frames[b] = frames[b], frames[a]
    return frames[a:]


def _wrapped(frames, port):
    """The client's sequence numbers cross 2**32 inside the first request."""
    shift = (M32 - 20 - frames[0][1].data.data.seq) & M32
    for _, eth in frames:
        tcp = eth.data.data
        if tcp.dport == port:
            tcp.seq = (tcp.seq + shift) & M32
        elif tcp.flags & dpkt.tcp.TH_ACK:
            tcp.ack = (tcp.ack + shift) & M32
    return frames


def _first_request_lost(frames, port):
    """Handshake seen, the first client segment not: the first event is a gap."""
    first = _client_data(frames, port)[0]
    return frames[:first] + frames[first + 1:]


def _inside_a_body(frames, port):
    """The capture starts in the middle of the upload's body."""
    return frames[_client_data(frames, port)[3]:]


@pytest.mark.parametrize("damage,want", [
    (_out_of_order, [(None, 201), ("GET", 404)]),
    (_wrapped, [("GET", 200), ("PUT", 201), ("GET", 404)]),
    (_first_request_lost, [(None, 200), ("PUT", 201), ("GET", 404)]),
    (_inside_a_body, [(None, 201), ("GET", 404)]),
], ids=lambda x: getattr(x, "__name__", ""))
def test_damaged_starts_decode_as_on_a_listed_port(recs, tmp_path, damage, want):
    lt, frames = _frames(recs.path("full"))
    path = _write(tmp_path / "x.pcap", lt, damage(frames, recs.server_port))
    got = txs(path)
    assert [(t.method, t.status) for t in got] == want
    same = listed(path, recs.server_port)
    if damage in (_out_of_order, _inside_a_body):
        # over KEEP_BYTES of body before the evidence: decoding starts at the last segment
        # held, so only the count of bytes skipped before the next request differs
        assert facts(got) == facts(same) and "skipping" in same[1].notes[0]
    else:
        assert got == same
    assert all(t.client == f"127.0.0.1:{recs.client_ports[0]}" for t in got)
    if damage is _first_request_lost:
        assert got[0].gap and "request lost" in got[0].notes[0]
    if damage is _wrapped:
        assert facts(got) == facts(txs(recs.path("full")))


def test_request_line_later_in_the_stream(recs, tmp_path):
    """Only the client's side, from inside the upload's body: nothing tells what this is until
    the next request line, which is then decoded from there on."""
    lt, frames = _frames(recs.path("client_only"))
    path = _write(tmp_path / "x.pcap", lt, _inside_a_body(frames, recs.server_port))
    (tx,) = txs(path)
    assert (tx.method, tx.uri, tx.status, tx.client) == ("GET", "/missing", None, f"127.0.0.1:{recs.client_ports[0]}")
    assert facts([tx]) == facts(listed(path, recs.server_port))


# -- real OpenStack traffic with no port named -------------------------------------------------


@pytest.mark.parametrize("scenario", ["plain_overcloud", "tls_overcloud"])
def test_rig_with_no_port_listed_decodes_the_same(scenario):
    """Keystone and Glance (HTTP and haproxy's TLS, decrypted) and MariaDB (from its greeting)
    found on ports nobody named: the same events as with the default port lists."""
    path = rig.capture(scenario)
    keys = [path.replace("capture.pcap", "capture.keys")] if scenario.startswith("tls") else []
    want = decode(path, Options(keylog=keys))
    got = decode(path, Options(keylog=keys, **NOTHING_LISTED))
    for cls in (HttpTransaction, TlsSession, MysqlHandshake, SqlStatement):
        assert got.of_type(cls) == want.of_type(cls), cls.__name__
    assert got.of_type(SqlStatement) and got.of_type(HttpTransaction)
    if scenario.startswith("tls"):
        assert any(s.decrypted for s in got.of_type(TlsSession))


def test_rig_pooled_mysql_without_greeting_is_not_guessed():
    """Pooled MySQL connections opened before the capture show no greeting: not sniffed (a
    query stream has no reliable signature), while the HTTP is found as before."""
    path = rig.capture("concurrent")
    want, got = decode(path), decode(path, Options(**NOTHING_LISTED))
    assert got.of_type(HttpTransaction) == want.of_type(HttpTransaction)
    greeted = {h.conn_id for h in want.of_type(MysqlHandshake) if not h.inferred}
    assert [s for s in want.of_type(SqlStatement) if s.conn_id in greeted] == got.of_type(SqlStatement)
    assert len(got.of_type(SqlStatement)) < len(want.of_type(SqlStatement))


# -- Zeek's HTTP-on-any-port traces ------------------------------------------------------------


def _zeek(thirdparty, name):
    return thirdparty / "zeek" / "traces" / "http" / name


def _zeek_log(thirdparty, test, log="http.log") -> list[dict[str, str]]:
    """Rows of a Zeek log, whole (#fields header) or cut by the test (plain header line)."""
    path = thirdparty / "zeek" / "baselines" / f"scripts.base.protocols.http.{test}" / log
    lines = [ln for ln in path.read_text().splitlines()[1:] if ln and (not ln.startswith("#") or ln.startswith("#fields"))]
    fields = lines[0].removeprefix("#fields\t").split("\t")
    return [dict(zip(fields, ln.split("\t"))) for ln in lines[1:]]


def test_methods_any_token_and_garbled_requests(thirdparty):
    """49 connections to port 80, many request lines malformed: each is found from the
    server's status line; every well-formed request line (any token as method) is parsed."""
    path = _zeek(thirdparty, "methods.pcap")
    got = {t.conn_id: t for t in txs(path)}
    status = {int(s): int(c) for s, c in tshark_fields(path, "http.response", ["tcp.stream", "http.response.code"])}
    assert {k: t.status for k, t in got.items()} == status and len(status) == 49
    wellformed = {int(s): m for s, m, v in tshark_fields(
        path, "http.request", ["tcp.stream", "http.request.method", "http.request.version"])
        if v in ("HTTP/1.1", "HTTP/1.0")}
    assert {k: t.method for k, t in got.items() if t.method} == wellformed
    assert {"OPTIONS", "CCM_POST", "CONNECT", "TRACE", "DELETE", "PUT", "HEAD"} <= set(wellformed.values())


@pytest.mark.parametrize("trace,test,log", [
    ("connect-with-header.pcap", "http-connect-with-header", "http.log"),
    ("query-method-non-standard-port.pcap", "query-method-non-standard-port", "http.log"),
    ("http-lower-case-nonstandard-port.pcap", "http-lower-case", "http.log.nonstandard"),
])
def test_unusual_methods_and_ports_match_zeek(thirdparty, trace, test, log):
    (row,) = _zeek_log(thirdparty, test, log)
    (tx,) = txs(_zeek(thirdparty, trace))
    assert (tx.method, tx.uri, tx.header("Host"), tx.status, tx.reason) == (
        row["method"], row["uri"], row["host"], int(row["status_code"]), row["status_msg"])
    assert tx.server.endswith(f":{row['id.resp_p']}")
    if tx.method == "CONNECT":  # the tunnel after it is not read as HTTP
        assert any("protocol switched" in n for n in tx.notes)
    elif tx.method == "QUERY":
        assert tx.response_body.size == int(row["response_body_len"])


def test_one_data_packet_and_nothing_else(thirdparty):
    (tx,) = txs(thirdparty / "zeek" / "traces" / "tcp" / "no-handshake.pcap")
    assert (tx.method, tx.uri, tx.status) == ("GET", "/download/CHANGES.bro-aux.txt", None)


# -- the bounds ------------------------------------------------------------------------------


def _sniffer(midstream: bool, kinds=(sniff.HTTP, sniff.TLS, sniff.MYSQL)):
    built = []
    conn = SimpleNamespace(stream=0, client="10.0.0.1:40000", server="10.0.0.2:7000",
                           midstream=midstream, handler=None)
    s = sniff.Sniffer(conn, lambda kind, roles: built.append((kind, roles)) or _Sink(), frozenset(kinds))
    conn.handler = s
    return conn, s, built


class _Sink:
    def __init__(self):
        self.got = []

    def data(self, d, payload, ts, frame):
        self.got.append((d, bytes(payload)))

    def gap(self, d, n, ts, frame):
        self.got.append((d, n))

    def close(self, ts, frame, reason):
        pass


def test_handshake_seen_and_server_speaks_something_else():
    """SSH-like banner from the server of a connection whose handshake was seen: given up at once."""
    conn, s, built = _sniffer(midstream=False)
    s.data(1, memoryview(b"SSH-2.0-OpenSSH_9.2\r\n"), 0.0, 1)
    assert conn.handler is sniff.IGNORED and not built


def test_midstream_garbage_is_given_up_after_the_budget():
    conn, s, built = _sniffer(midstream=True)
    chunk = memoryview(b"\x00\x01 not http at all\n" * 10)
    for i in range(sniff.LOOK_EVENTS):
        s.data(i % 2, chunk, 0.0, i)
    assert conn.handler is s and s.held_bytes <= sniff.KEEP_BYTES + 2 * len(chunk)
    s.data(0, chunk, 0.0, 0)
    assert conn.handler is sniff.IGNORED and not built


def test_status_line_after_the_keep_budget_starts_decoding_there():
    """A long body seen from its middle, then the reply: only the last client segment is kept."""
    conn, s, built = _sniffer(midstream=True)
    body = memoryview(b"x" * 60000)
    for i in range(3):
        s.data(0, body, 0.0, i)
    s.data(1, memoryview(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"), 0.0, 9)
    (kind, roles), = built
    assert kind == sniff.HTTP and roles.client == "10.0.0.1:40000"
    assert [d for d, _ in conn.handler.got] == [0, 1] and conn.handler.got[1][1].startswith(b"HTTP/1.1 201")


def test_mysql_greeting_from_the_guessed_client_swaps_the_roles():
    conn, s, built = _sniffer(midstream=True)
    version = b"5.5.5-10.11.6-MariaDB"
    payload = b"\x0a" + version + b"\x00" + b"\x01\x00\x00\x00" + b"abcdefgh\x00" + b"\xff\xf7" + b"\x00" * 40
    s.data(0, memoryview(len(payload).to_bytes(3, "little") + b"\x00" + payload), 0.0, 1)
    (kind, roles), = built
    assert kind == sniff.MYSQL and (roles.client, roles.server) == ("10.0.0.2:7000", "10.0.0.1:40000")
    assert isinstance(conn.handler, sniff.Flipped) and conn.handler.inner.got[0][0] == 1


def test_sniffer_on_arbitrary_input_never_raises_and_stays_bounded():
    """Random chunks and gaps in both directions, on connections with and without their
    handshake: the sniffer decides, gives up or keeps looking, never raises, never holds more
    than KEEP_BYTES plus the last segment of each side."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    pieces = st.one_of(st.binary(max_size=3000), st.sampled_from([
        b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n", b"\x16\x03\x01\x00\x05\x01", b"\r\n", b"http/1.0 2"]))
    events = st.lists(st.tuples(st.integers(0, 1), st.one_of(pieces, st.integers(1, 5000))), max_size=40)

    @settings(max_examples=300, deadline=None)
    @given(events, st.booleans())
    def run(evs, midstream):
        conn, s, built = _sniffer(midstream)
        for i, (d, what) in enumerate(evs):
            h = conn.handler
            if isinstance(what, int):
                h.gap(d, what, 0.0, i)
            else:
                h.data(d, memoryview(what), 0.0, i)
            if conn.handler is s:
                assert s.held_bytes <= sniff.KEEP_BYTES + 2 * 5000
        assert len(built) <= 1 and (conn.handler is s or conn.handler is sniff.IGNORED or built)
        conn.handler.close(1.0, 99, "fin")

    run()
