"""Real TLS traffic on loopback, recorded with tcpdump, with the client's key log.

Servers: Python's ssl module (an HTTP/1.1 server, suites forced with
set_ciphers for TLS 1.2) and `openssl s_server` (TLS 1.3 suites forced with
-ciphersuites, and the echo mode used for KeyUpdate).  Clients write their
secrets with `keylog_filename` / `openssl s_client -keylogfile`, as
SSLKEYLOGFILE does.  Each helper returns what the client sent and received so
tests can check the decoder against it.
"""

from __future__ import annotations

import datetime
import hashlib
import http.client
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.loopback import free_port, need, tcpdump

SNI = "glance.test"
TCPDUMP_EXTRA = ["-B", "65536", "--immediate-mode"]  # loopback bursts of 64 KiB segments: big buffer, no block timeout


def make_cert(dirpath: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    cert_p, key_p = dirpath / "cert.pem", dirpath / "key.pem"
    if cert_p.exists():
        return cert_p, key_p
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "XX"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "glancetrace tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, SNI)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    cert_p.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_p.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    return cert_p, key_p


def blob(n: int, seed: int = 1) -> bytes:
    """Deterministic incompressible-looking bytes."""
    out = bytearray()
    c = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, c)).digest()
        c += 1
    return bytes(out[:n])


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/bytes/"):
            self._send(200, blob(int(self.path.rsplit("/", 1)[1]), 7), "application/octet-stream")
        else:
            self._send(200, json.dumps({"path": self.path}).encode())

    def _upload(self, code: int):
        n = int(self.headers.get("Content-Length", "0"))
        h, left = hashlib.md5(), n
        while left:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
        if code == 204:  # Glance's image upload answer: no body
            self.send_response(204)
            self.send_header("X-Upload-Md5", h.hexdigest())
            self.end_headers()
            return
        self._send(code, json.dumps({"size": n, "md5": h.hexdigest()}).encode())

    def do_PUT(self):
        self._upload(204 if self.path.endswith("/file") else 200)

    def do_POST(self):
        self._upload(201)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, ctx: ssl.SSLContext | None):
        self.ctx = ctx
        super().__init__(("127.0.0.1", port), _Handler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.ctx is not None:
            sock = self.ctx.wrap_socket(sock, server_side=True)
        return sock, addr


@dataclass
class Exchange:
    method: str
    path: str
    body: bytes = b""
    status: int = 0
    response: bytes = b""


@dataclass
class Capture:
    pcap: Path
    keys: Path
    port: int
    exchanges: list[Exchange] = field(default_factory=list)
    sent: bytes = b""  # client application bytes, in order, all connections
    received: bytes = b""
    connections: int = 1


class _Conn(http.client.HTTPSConnection):
    session = None

    def connect(self):
        sock = socket.create_connection((self.host, self.port))
        self.sock = self._context.wrap_socket(sock, server_hostname=SNI, session=self.session)


def default_exchanges() -> list[Exchange]:
    return [Exchange("GET", "/v2/images"),
            Exchange("POST", "/v2/images", json.dumps({"name": "cirros", "disk_format": "qcow2"}).encode()),
            Exchange("PUT", "/v2/images/abc/file", blob(3 * 1024 * 1024 + 123, 3)),
            Exchange("GET", "/bytes/300000")]


def record_https(dirpath: Path, name: str, *, tls: bool = True, max_version=None, ciphers: str | None = None,
                 exchanges: list[Exchange] | None = None, resume: bool = False) -> Capture:
    """A Python HTTPS (or plain HTTP) server and http.client, recorded; `resume` makes a second
    connection that resumes the first one's session."""
    cert, key = make_cert(dirpath)
    port = free_port()
    sctx = None
    if tls:
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        if max_version:
            sctx.maximum_version = max_version
        if ciphers:
            sctx.set_ciphers(ciphers)
    server = _Server(port, sctx)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    pcap, keys = dirpath / f"{name}.pcap", dirpath / f"{name}.keys"
    keys.unlink(missing_ok=True)
    exchanges = exchanges or default_exchanges()
    cap = Capture(pcap, keys, port, exchanges)
    try:
        with tcpdump(pcap, f"tcp port {port}", extra=TCPDUMP_EXTRA):
            cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            cctx.check_hostname = False
            cctx.verify_mode = ssl.CERT_NONE
            cctx.keylog_filename = str(keys)
            if ciphers:  # the client's default list leaves out RSA key exchange
                cctx.set_ciphers(ciphers)
            session = None
            for round_ in range(2 if resume else 1):
                if tls:
                    conn = _Conn("127.0.0.1", port, context=cctx)
                    conn.session = session
                else:
                    conn = http.client.HTTPConnection("127.0.0.1", port)
                for ex in exchanges:
                    headers = {"Content-Type": "application/octet-stream"} if ex.body else {}
                    conn.request(ex.method, ex.path, body=ex.body or None, headers=headers)
                    r = conn.getresponse()
                    ex.status, ex.response = r.status, r.read()
                if tls:
                    session = conn.sock.session
                conn.close()
                time.sleep(0.05)
            cap.connections = 2 if resume else 1
    finally:
        server.shutdown()
        server.server_close()
    return cap


def _wait_for(proc: subprocess.Popen, word: bytes, timeout: float = 10) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if word in line or proc.poll() is not None:
            return
    raise RuntimeError("openssl s_server did not start")


def record_openssl_www(dirpath: Path, name: str, suite: str, size: int = 300_000) -> Capture:
    """`openssl s_server -WWW -tls1_3 -ciphersuites SUITE` serving a file; Python client GETs it."""
    need("openssl")
    cert, key = make_cert(dirpath)
    www = dirpath / f"www-{name}"
    www.mkdir(exist_ok=True)
    content = blob(size, 11)
    (www / "blob.bin").write_bytes(content)
    port = free_port()
    pcap, keys = dirpath / f"{name}.pcap", dirpath / f"{name}.keys"
    keys.unlink(missing_ok=True)
    proc = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert),
                             "-key", str(key), "-tls1_3", "-ciphersuites", suite, "-WWW", "-naccept", "1"],
                            cwd=www, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        _wait_for(proc, b"ACCEPT")
        req = f"GET /blob.bin HTTP/1.0\r\nHost: {SNI}\r\n\r\n".encode()
        with tcpdump(pcap, f"tcp port {port}", extra=TCPDUMP_EXTRA):
            cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            cctx.check_hostname = False
            cctx.verify_mode = ssl.CERT_NONE
            cctx.keylog_filename = str(keys)
            with socket.create_connection(("127.0.0.1", port)) as raw:
                with cctx.wrap_socket(raw, server_hostname=SNI) as s:
                    s.sendall(req)
                    got = bytearray()
                    while True:
                        try:
                            chunk = s.recv(1 << 16)
                        except ssl.SSLError:
                            break
                        if not chunk:
                            break
                        got += chunk
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Capture(pcap, keys, port, [Exchange("GET", "/blob.bin", b"", 200, content)], sent=req, received=bytes(got))


def record_key_update(dirpath: Path, name: str) -> Capture:
    """`openssl s_client` sends data, a KeyUpdate asking the peer to update too ("K"), more data."""
    need("openssl")
    cert, key = make_cert(dirpath)
    port = free_port()
    pcap, keys = dirpath / f"{name}.pcap", dirpath / f"{name}.keys"
    keys.unlink(missing_ok=True)
    srv = subprocess.Popen(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert),
                            "-key", str(key), "-tls1_3", "-naccept", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.PIPE)
    lines = [b"hello before the key update\n", b"K\n", b"hello after the key update\n",
             b"K\n", b"third line, second generation\n"]
    try:
        _wait_for(srv, b"ACCEPT")
        with tcpdump(pcap, f"tcp port {port}", extra=TCPDUMP_EXTRA):
            cli = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_3",
                                    "-servername", SNI, "-keylogfile", str(keys)],
                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            for ln in lines:
                cli.stdin.write(ln)
                cli.stdin.flush()
                time.sleep(0.25)
            srv.stdin.write(b"reply from the server\n")
            srv.stdin.flush()
            time.sleep(0.3)
            cli.stdin.close()
            cli.wait(timeout=10)
    finally:
        for p in (srv,):
            if p.poll() is None:
                p.kill()
                p.wait()
    sent = b"".join(ln for ln in lines if ln != b"K\n")
    return Capture(pcap, keys, port, sent=sent, received=b"reply from the server\n")


def tamper_keys(src: Path, dst: Path) -> None:
    """The same key log with every secret changed in one byte: right client randoms, wrong keys."""
    out = []
    for line in src.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and not line.startswith("#"):
            sec = bytearray.fromhex(parts[2])
            sec[0] ^= 0x55
            parts[2] = sec.hex()
            line = " ".join(parts)
        out.append(line)
    dst.write_text("\n".join(out) + "\n")


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


__all__ = ["Capture", "Exchange", "record_https", "record_openssl_www", "record_key_update", "tamper_keys",
           "blob", "md5", "SNI", "os"]
