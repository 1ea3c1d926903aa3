"""Real HTTP traffic on loopback: a waitress WSGI server, http.client and raw-socket clients,
recorded with tcpdump.  `record(dir)` makes every capture once per test session and
returns what the clients sent, so tests can check the decoder against it.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field

from tests.support.loopback import free_port, need, tcpdump, tshark_fields

BIG_SIZE = 200 * 1024 * 1024


def _record(path, port: int):
    # immediate mode: without it packets still in the kernel ring at SIGINT are lost;
    # a big ring (-B, KiB) so a 200 MB loopback burst is not dropped
    return tcpdump(path, f"tcp port {port}", settle=0.5)


def _app(environ, start_response):
    path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
    if method in ("PUT", "POST"):
        h = hashlib.md5()
        n = 0
        body = environ["wsgi.input"]
        while True:
            block = body.read(1 << 20)
            if not block:
                break
            n += len(block)
            h.update(block)
        out = json.dumps({"size": n, "md5": h.hexdigest()}).encode()
        start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
        return [out]
    if path == "/json":
        out = json.dumps({"images": [{"id": i, "name": f"img{i}"} for i in range(3)]}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
        return [b""] if method == "HEAD" else [out]  # waitress itself would send a HEAD body
    if path == "/gzjson":
        doc = {"images": [{"id": i, "status": "active", "name": f"cirros-{i}"} for i in range(200)]}
        out = gzip.compress(json.dumps(doc).encode())
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Encoding", "gzip"),
                                  ("Content-Length", str(len(out)))])
        return [out]
    if path == "/nocontent":
        start_response("204 No Content", [])
        return [b""]
    if path == "/notmodified":
        start_response("304 Not Modified", [("ETag", '"x"')])
        return [b""]
    if path == "/stream":  # no Content-Length: chunked on 1.1, read-until-close on 1.0
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"line {i}\n".encode() * 50 for i in range(20)]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


class Server:
    def __init__(self):
        from waitress.server import create_server
        self.port = free_port()
        self.srv = create_server(_app, host="127.0.0.1", port=self.port, threads=2,
                                 channel_timeout=30, max_request_body_size=1 << 31)
        self.thread = threading.Thread(target=self.srv.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.srv.close()


@dataclass
class Capture:
    path: str
    port: int
    sent: dict = field(default_factory=dict)  # what the clients sent / expect, by name


def _recv_until(sock: socket.socket, token: bytes, limit: float = 5.0) -> bytes:
    data = b""
    end = time.time() + limit
    while token not in data and time.time() < end:
        block = sock.recv(65536)
        if not block:
            break
        data += block
    return data


def _recv_all(sock: socket.socket) -> bytes:
    out = b""
    while True:
        b = sock.recv(65536)
        if not b:
            return out
        out += b


def keepalive(path) -> Capture:
    """One keep-alive connection with many kinds of exchange, a pipelined one, an HTTP/1.0 one,
    a chunked upload and an Expect: 100-continue upload."""
    with Server() as s, _record(path, s.port):
        cap = Capture(str(path), s.port)
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
        for method, url, body in [("GET", "/json", None), ("GET", "/gzjson", None), ("HEAD", "/json", None),
                                  ("GET", "/nocontent", None), ("GET", "/notmodified", None),
                                  ("POST", "/upload", b'{"name": "x"}'), ("GET", "/stream", None),
                                  ("GET", "/missing", None)]:
            c.request(method, url, body=body, headers={"Content-Type": "application/json"} if body else {})
            r = c.getresponse()
            r.read()
        # chunked upload on the same connection
        blocks = [os.urandom(3000) for _ in range(7)]
        c.request("PUT", "/chunked-upload", body=iter(blocks), encode_chunked=True,
                  headers={"Content-Type": "application/octet-stream", "Transfer-Encoding": "chunked"})
        r = c.getresponse()
        cap.sent["chunked_upload"] = b"".join(blocks)
        cap.sent["chunked_upload_reply"] = json.loads(r.read())
        c.close()
        # Expect: 100-continue, done as a careful client: headers, wait for 100, body
        body = os.urandom(50_000)
        with socket.create_connection(("127.0.0.1", s.port)) as k:
            k.sendall(b"PUT /expect HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                      b"Expect: 100-continue\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
            interim = _recv_until(k, b"\r\n\r\n")
            k.sendall(body)
            rest = _recv_all(k)
        cap.sent["expect"] = body
        cap.sent["expect_interim"] = interim.split(b"\r\n", 1)[0]
        cap.sent["expect_reply"] = rest
        # pipelining: three requests in one write
        with socket.create_connection(("127.0.0.1", s.port)) as k:
            k.sendall(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            _recv_all(k)
        # HTTP/1.0: no Content-Length, the body ends when the server closes
        with socket.create_connection(("127.0.0.1", s.port)) as k:
            k.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
            cap.sent["http10"] = _recv_all(k)
    return cap


def big_upload(path, size: int = BIG_SIZE) -> Capture:
    """A Glance-like image upload: PUT of `size` octet-stream bytes, then a GET on the same connection."""
    block = os.urandom(1 << 20)
    h5, h256, h512 = hashlib.md5(), hashlib.sha256(), hashlib.sha512()
    parts = []
    for i in range(size // len(block)):
        part = struct.pack("!Q", i) + block[8:]  # every MiB differs
        parts.append(part)
        h5.update(part)
        h256.update(part)
        h512.update(part)
    with Server() as s, _record(path, s.port):
        cap = Capture(str(path), s.port)
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
        c.request("PUT", "/v2/images/abc/file", body=iter(parts),
                  headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
        cap.sent["reply"] = json.loads(c.getresponse().read())
        c.request("GET", "/json")
        c.getresponse().read()
        c.close()
    cap.sent.update(size=size, md5=h5.hexdigest(), sha256=h256.hexdigest(), sha512=h512.hexdigest())
    return cap


def reset_mid_body(path) -> Capture:
    """The client announces 10 MB, sends 1 MB and aborts the connection (RST)."""
    with Server() as s, _record(path, s.port):
        cap = Capture(str(path), s.port)
        k = socket.create_connection(("127.0.0.1", s.port))
        k.sendall(b"PUT /v2/images/x/file HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Length: 10000000\r\n\r\n")
        k.sendall(os.urandom(1_000_000))
        time.sleep(0.2)
        k.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        k.close()
        time.sleep(0.2)
    return cap


def record(dirpath) -> dict[str, Capture]:
    return {
        "keepalive": keepalive(dirpath / "keepalive.pcap"),
        "big": big_upload(dirpath / "big.pcap"),
        "rst": reset_mid_body(dirpath / "rst.pcap"),
    }


def _frames(path, port: int, display_filter: str, fields: list[str]) -> list[list[str]]:
    return tshark_fields(path, display_filter, fields, extra=["-d", f"tcp.port=={port},http"])


def _editcap(src: Capture, out, frames: list[int], why: str) -> Capture:
    """A copy of `src` with `frames` deleted: packet loss made from real traffic."""
    need("editcap")
    subprocess.run(["editcap", src.path, str(out)] + [str(f) for f in frames], check=True, capture_output=True)
    cap = Capture(str(out), src.port, dict(src.sent))
    cap.sent.update(deleted=frames, why=why)
    return cap


def lossy(caps: dict[str, Capture], dirpath) -> dict[str, Capture]:
    """Captures with frames deleted: a response head, a whole request, a segment of the big body."""
    ka = caps["keepalive"]
    req = {r[1]: int(r[0]) for r in _frames(ka.path, ka.port, "http.request", ["frame.number", "http.request.uri"])}
    resp = {int(r[1]): int(r[0]) for r in _frames(ka.path, ka.port, "http.response",
                                                  ["frame.number", "http.request_in"]) if r[1]}
    big = caps["big"]
    segs = sorted((int(q), int(n), int(f)) for f, q, n in
                  tshark_fields(big.path, f"tcp.len > 0 and tcp.dstport == {big.port}",
                                ["frame.number", "tcp.seq", "tcp.len"],
                                extra=["-o", "tcp.desegment_tcp_streams:FALSE"]))
    # loopback bursts get retransmitted: only a segment no other frame covers makes a hole
    data, reach = [], 0
    for i, (q, n, f) in enumerate(segs):
        if reach <= q and (i + 1 == len(segs) or segs[i + 1][0] >= q + n):
            data.append(f)
        reach = max(reach, q + n)
    return {
        "lost_response": _editcap(ka, dirpath / "lost_response.pcap", [resp[req["/gzjson"]]], "/gzjson"),
        "lost_request": _editcap(ka, dirpath / "lost_request.pcap", [req["/notmodified"]], "/notmodified"),
        "big_hole": _editcap(big, dirpath / "big_hole.pcap", [data[len(data) // 2]], "body"),
    }


_CACHE: dict[str, Capture] = {}


def recorded(tmp_path_factory) -> dict[str, Capture]:
    """Every capture above, made once per test session (HTTP and TCP tests share them)."""
    if not _CACHE:
        d = tmp_path_factory.mktemp("httpcaps")
        _CACHE.update(record(d))
        _CACHE.update(lossy(_CACHE, d))
    return _CACHE
