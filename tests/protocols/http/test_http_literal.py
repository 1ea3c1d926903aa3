"""The HTTP decoder fed hand-written bytes, as h11's tests are (beside the real-traffic tests)."""

from __future__ import annotations

import hashlib

import pytest

from glancetrace.protocols.http import HttpDecoder, HttpTransaction

CLIENT, SERVER = "10.0.0.1:40000", "10.0.0.2:80"


class Conn:
    """One decoder; each write is one segment with its own frame number and time."""

    def __init__(self):
        self.dec = HttpDecoder(3, CLIENT, SERVER)
        self.txs: list[HttpTransaction] = []
        self.frame = 0

    def send(self, direction: int, *segments: bytes) -> "Conn":
        for seg in segments:
            self.frame += 1
            self.txs += self.dec.feed(direction, seg, 10.0 + self.frame, self.frame)
        return self

    def gap(self, direction: int, n: int) -> "Conn":
        self.frame += 1
        self.txs += self.dec.gap(direction, n, 10.0 + self.frame, self.frame)
        return self

    def close(self, reason: str = "fin") -> list[HttpTransaction]:
        self.txs += self.dec.close(99.0, self.frame + 1, reason)
        return self.txs


def test_request_with_content_length_and_json_response():
    body = b'{"name": "cirros", "disk_format": "qcow2"}'
    c = Conn().send(0, b"POST /v2/images HTTP/1.1\r\nHost: glance\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(body) + body[:10], body[10:])
    assert c.txs == []  # no answer yet
    reply = b'{"id": "x", "status": "queued"}'
    c.send(1, b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 31\r\n\r\n"
              + reply[:25], reply[25:])
    (tx,) = c.txs
    assert (tx.method, tx.uri, tx.version, tx.status, tx.reason) == ("POST", "/v2/images", "1.1", 201, "Created")
    assert (tx.client, tx.server, tx.conn_id) == (CLIENT, SERVER, 3)
    assert tx.request_body.size == len(body) and tx.request_body.md5 == hashlib.md5(body).hexdigest()
    assert tx.request_body.json == {"name": "cirros", "disk_format": "qcow2"}
    assert tx.response_body.json == {"id": "x", "status": "queued"}
    assert tx.request_frames == (1, 2) and tx.response_frames == (3, 4)
    assert (tx.request_first_time, tx.response_last_time) == (11.0, 14.0)
    assert tx.header("content-type") == "application/json" and not tx.incomplete and not tx.notes


def test_chunked_body_with_trailers():
    c = Conn().send(0, b"PUT /v2/images/x/file HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                       b"Content-Type: application/octet-stream\r\n\r\n",
                    b"5;ext=1\r\nhello\r\n", b"6\r\n world\r\n0\r\n", b"X-Checksum: abc\r\n\r\n")
    c.send(1, b"HTTP/1.1 204 No Content\r\n\r\n")
    (tx,) = c.txs
    b = tx.request_body
    assert b.chunked and b.size == 11 and b.md5 == hashlib.md5(b"hello world").hexdigest()
    assert b.wire_size == len(b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n")
    assert tx.header("X-Checksum") == "abc"  # the trailer joins the headers
    assert tx.status == 204 and tx.response_body.size == 0


def test_pipelined_requests_pair_in_order():
    c = Conn().send(0, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"DELETE /c HTTP/1.1\r\nHost: x\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"
              b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nBB", b"HTTP/1.1 204 No Content\r\n\r\n")
    assert [(t.method, t.uri, t.status, t.response_body.size) for t in c.txs] == [
        ("GET", "/a", 200, 1), ("GET", "/b", 404, 2), ("DELETE", "/c", 204, 0)]


def test_expect_100_continue():
    c = Conn().send(0, b"PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    c.send(1, b"HTTP/1.1 100 Continue\r\n\r\n")
    c.send(0, b"data")
    c.send(1, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    (tx,) = c.txs
    assert (tx.interim, tx.status, tx.request_body.size) == ([100], 201, 4)
    assert tx.response_frames == (2, 4) and tx.response_first_time == 12.0


def test_expect_100_answered_at_once_and_the_body_never_sent():
    c = Conn().send(0, b"PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
    c.send(1, b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n")
    c.send(0, b"GET /next HTTP/1.1\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    first, second = c.txs
    assert (first.status, first.request_body.size) == (413, 0)
    assert any("not sent" in n for n in first.notes)
    assert (second.method, second.uri, second.status) == ("GET", "/next", 200)


def test_head_response_has_no_body_despite_its_length():
    c = Conn().send(0, b"HEAD /v2/images/x/file HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
              b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyyy")
    head, get = c.txs
    assert (head.method, head.response_body.size, head.header("content-length", response=True)) == ("HEAD", 0, "1000")
    assert (get.uri, get.response_body.size) == ("/y", 3)


@pytest.mark.parametrize("reason,truncated", [("fin", False), ("rst", True)])
def test_response_without_length_read_until_close(reason, truncated):
    c = Conn().send(0, b"GET /old HTTP/1.0\r\n\r\n")
    c.send(1, b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome ", b"text")
    assert c.txs == []  # the end of the body is the end of the connection
    (tx,) = c.close(reason)
    assert tx.response_body.size == 9 and tx.response_body.text == b"some text"
    assert tx.truncated is truncated


def test_any_token_is_a_method_and_lower_case_status_http():
    c = Conn().send(0, b"COPY /v1/AUTH_x/c/o HTTP/1.1\r\nDestination: c/p\r\n\r\n",
                    b"PROPFIND /dav HTTP/1.1\r\n\r\n", b"M-SEARCH * HTTP/1.1\r\n\r\n")
    c.send(1, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", b"http/1.1 207 Multi-Status\r\n"
              b"Content-Length: 0\r\n\r\n", b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
    assert [(t.method, t.uri, t.status) for t in c.txs] == [
        ("COPY", "/v1/AUTH_x/c/o", 201), ("PROPFIND", "/dav", 207), ("M-SEARCH", "*", 405)]


def test_connect_switches_the_connection_to_opaque():
    c = Conn().send(0, b"CONNECT glance:443 HTTP/1.1\r\nHost: glance:443\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 Connection Established\r\n\r\n", b"\x16\x03\x03\x00\x05hello")
    c.send(0, b"\x16\x03\x01\x02\x00 not HTTP")
    (tx,) = c.close()
    assert (tx.method, tx.uri, tx.status) == ("CONNECT", "glance:443", 200)
    assert any("protocol switched" in n for n in tx.notes) and not c.dec.notes


@pytest.mark.parametrize("line", [
    b"GET /x HTTP/2.0\r\n", b"GET  /x HTTP/1.1\r\n", b"GE(T /x HTTP/1.1\r\n", b"GET /x\r\n",
    b"\x00\x01binary junk\r\n"])
def test_malformed_request_line_is_skipped_until_the_next_request(line):
    c = Conn().send(0, line + b"Host: x\r\n\r\n", b"GET /good HTTP/1.1\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    (tx,) = c.txs
    assert (tx.method, tx.uri, tx.status) == ("GET", "/good", 200)
    assert any("skipping" in n for n in tx.notes)


def test_malformed_header_line_and_bad_content_length():
    c = Conn().send(0, b"GET /a HTTP/1.1\r\nGood: yes\r\nno colon here\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nbody", b"")
    (tx,) = c.close()
    assert tx.request_headers == [("Good", "yes")] and "malformed header line b'no colon here'" in tx.notes
    assert any("bad Content-Length" in n for n in tx.notes) and tx.response_body.size == 4


def test_bad_chunk_size_marks_the_message_and_resynchronises():
    c = Conn().send(0, b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n",
                    b"GET /b HTTP/1.1\r\n\r\n")
    c.send(1, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
              b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    bad, good = c.txs
    assert bad.incomplete and any("bad chunk size" in n for n in bad.notes) and bad.request_body.md5 is None
    assert (good.uri, good.status) == ("/b", 200)


def test_gap_inside_a_body_of_known_length_is_counted():
    c = Conn().send(0, b"PUT /f HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc").gap(0, 4).send(0, b"xyz")
    c.send(1, b"HTTP/1.1 204 No Content\r\n\r\n")
    (tx,) = c.txs
    assert tx.gap and tx.incomplete and tx.request_body.size == 10 and tx.request_body.md5 is None
    assert "4 request body bytes not captured" in tx.notes


def test_request_line_right_after_carried_bytes_is_found():
    """Resynchronising keeps the last partial line between segments; a request that starts
    the next segment must still be found (messages begin at segment boundaries)."""
    c = Conn().send(0, b"\x00junk that is not a line start ", b"GET /found HTTP/1.1\r\n\r\n")
    c.send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    (tx,) = c.txs
    assert (tx.method, tx.uri) == ("GET", "/found")


def test_response_first_capture():
    c = Conn().send(1, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    (tx,) = c.txs
    assert (tx.method, tx.status, tx.response_body.size) == (None, 200, 2)
    assert tx.incomplete and "response without a request in the capture" in tx.notes
