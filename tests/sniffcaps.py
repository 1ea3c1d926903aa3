"""Real HTTP on an unlisted port, recorded on loopback for the sniffing tests.

The server listens on a high port and the client binds a lower one, so on a connection seen
without its handshake the reassembler's port guess names the wrong side the client.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import subprocess
import threading
import time
from dataclasses import dataclass

from tests.support.loopback import free_port, tcpdump

BODY = bytes(range(256)) * 400  # 100 KiB, sent in three writes
SLOW = 1.5  # seconds the server waits before answering /slow


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status: int, doc: dict) -> None:
        out = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_GET(self):
        if self.path == "/slow":
            time.sleep(SLOW)
        self._reply(404 if self.path == "/missing" else 200, {"path": self.path})

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self._reply(201, {"md5": hashlib.md5(body).hexdigest()})


@dataclass
class Recordings:
    dir: str
    server_port: int
    client_ports: list[int]

    def path(self, name: str) -> str:
        return f"{self.dir}/{name}.pcap"


def _low_port(taken: set[int]) -> int:
    """A free port below the ephemeral range, for the client to bind."""
    for port in range(21000, 30000):
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free low port")


def _client(port: int, server_port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.bind(("127.0.0.1", port))
    s.connect(("127.0.0.1", server_port))
    return s


def _exchange(s: socket.socket, request: bytes, *more: bytes) -> bytes:
    s.sendall(request)
    for part in more:  # separate writes: separate segments
        time.sleep(0.05)
        s.sendall(part)
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
            data.split(b"Content-Length: ", 1)[1].split(b"\r\n", 1)[0]):
        data += s.recv(65536)
    return data


def _put(s: socket.socket) -> bytes:
    head = b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    third = len(BODY) // 3
    return _exchange(s, head, BODY[:third], BODY[third:2 * third], BODY[2 * third:])


def record(dirpath) -> Recordings:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    rec = Recordings(str(dirpath), port, [])
    try:
        # a whole connection, seen three ways: both sides, only the server's, only the client's
        with tcpdump(rec.path("full"), f"tcp port {port}"), \
                tcpdump(rec.path("server_only"), f"tcp src port {port}"), \
                tcpdump(rec.path("client_only"), f"tcp dst port {port}"):
            cport = _low_port(set())
            rec.client_ports.append(cport)
            with _client(cport, port) as s:
                _exchange(s, b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
                _put(s)
                _exchange(s, b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
        # the capture starts while the server is thinking: its reply comes first
        cport = _low_port({cport})
        rec.client_ports.append(cport)
        with _client(cport, port) as s:
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.2)
            with tcpdump(rec.path("reply_first"), f"tcp port {port}"):
                _exchange(s, b"")
                _put(s)
                _exchange(s, b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        srv.shutdown()
        srv.server_close()
    subprocess.run(["sync"], check=False)
    return rec
