"""Real captures for the capture-layer tests, made once per session on loopback.

One burst of traffic (HTTP over IPv4 and IPv6 with request bodies of a few
hundred KB, UDP datagrams) is recorded at the same time by several tcpdumps:
plain Ethernet-framed lo, nanosecond timestamps, snaplen 96, `-i any` (SLL) and
`-i any -y LINUX_SLL2`.  The other variants are derived from those with the
standard tools (mergecap for a two-interface pcapng, gzip) or with dpkt (VLAN
tags, IPv4 and IPv6 fragments, big-endian byte order), keeping real packet contents.
"""

from __future__ import annotations

import contextlib
import gzip
import http.server
import shutil
import socket
import struct
import subprocess
import threading
import urllib.request

import dpkt

from tests.support.loopback import free_port, need, tcpdump


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        self._reply(f"got {len(body)}".encode())

    def do_GET(self):
        self._reply(b"x" * 3000)

    def _reply(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class _Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _traffic(port4: int, port6: int, uport: int) -> None:
    srv4 = http.server.ThreadingHTTPServer(("127.0.0.1", port4), _Handler)
    srv6 = _Server6(("::1", port6), _Handler)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (srv4, srv6)]
    for t in threads:
        t.start()
    try:
        for i in range(3):
            body = bytes(range(256)) * (400 * (i + 1))
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port4}/upload/{i}", data=body, method="POST"), timeout=5).read()
            urllib.request.urlopen(f"http://127.0.0.1:{port4}/get/{i}", timeout=5).read()
        urllib.request.urlopen(urllib.request.Request(
            f"http://[::1]:{port6}/v6", data=b"y" * 50000, method="POST"), timeout=5).read()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            rx.bind(("127.0.0.1", uport))
            for i in range(4):
                tx.sendto(b"udp %d" % i * 10, ("127.0.0.1", uport))
    finally:
        for s in (srv4, srv6):
            s.shutdown()
            s.server_close()


def record(tmp) -> dict:
    """Record the traffic with every tcpdump variant; return {name: path}."""
    need("tcpdump")
    port4, port6, uport = free_port(), free_port(), free_port()
    bpf = f"tcp port {port4} or tcp port {port6} or udp port {uport}"
    paths = {
        "lo": tmp / "lo.pcap",
        "nano": tmp / "nano.pcap",
        "snap96": tmp / "snap96.pcap",
        "sll": tmp / "sll.pcap",
        "sll2": tmp / "sll2.pcap",
    }
    with contextlib.ExitStack() as stack:
        stack.enter_context(tcpdump(paths["lo"], bpf))
        stack.enter_context(tcpdump(paths["nano"], bpf, extra=["--time-stamp-precision=nano"]))
        stack.enter_context(tcpdump(paths["snap96"], bpf, snaplen=96))
        stack.enter_context(tcpdump(paths["sll"], bpf, iface="any", extra=["-y", "LINUX_SLL"]))
        stack.enter_context(tcpdump(paths["sll2"], bpf, iface="any", extra=["-y", "LINUX_SLL2"]))
        _traffic(port4, port6, uport)
    paths["ports"] = (port4, port6, uport)
    derive(tmp, paths)
    return paths


def derive(tmp, paths: dict) -> None:
    lo = paths["lo"]
    # gzip'd
    gz = tmp / "lo.pcap.gz"
    gz.write_bytes(gzip.compress(lo.read_bytes()))
    paths["gz"] = gz
    # big-endian byte order (as written on a big-endian host)
    paths["bigendian"] = tmp / "bigendian.pcap"
    swap_endianness(lo, paths["bigendian"])
    # 802.1Q and QinQ tags on every other frame
    paths["vlan"] = tmp / "vlan.pcap"
    add_vlan_tags(lo, paths["vlan"])
    # IPv4 and IPv6 fragments: the TCP segments with data cut into 3 fragments each
    paths["frag"] = tmp / "frag.pcap"
    fragment_tcp(lo, paths["frag"])
    # two interfaces with different link types in one pcapng
    if shutil.which("mergecap"):
        paths["twoif"] = tmp / "twoif.pcapng"
        subprocess.run(["mergecap", "-F", "pcapng", "-w", str(paths["twoif"]), str(lo), str(paths["sll"])],
                       check=True)


def swap_endianness(src, dst) -> None:
    data = src.read_bytes()
    out = bytearray()
    magic, vmaj, vmin, zone, sig, snap, net = struct.unpack_from("<IHHiIII", data, 0)
    out += struct.pack(">IHHiIII", magic, vmaj, vmin, zone, sig, snap, net)
    off = 24
    while off + 16 <= len(data):
        sec, frac, cap, orig = struct.unpack_from("<IIII", data, off)
        out += struct.pack(">IIII", sec, frac, cap, orig) + data[off + 16:off + 16 + cap]
        off += 16 + cap
    dst.write_bytes(bytes(out))


def _copy(src, dst, transform) -> None:
    with open(src, "rb") as f, open(dst, "wb") as g:
        r = dpkt.pcap.Reader(f)
        w = dpkt.pcap.Writer(g, snaplen=262144, linktype=r.datalink())
        for i, (ts, buf) in enumerate(r):
            for out in transform(i, buf):
                w.writepkt(out, ts)


def add_vlan_tags(src, dst) -> None:
    def tag(i, buf):
        if i % 3 == 1:
            buf = buf[:12] + b"\x81\x00" + struct.pack("!H", 100 + i % 7) + buf[12:]
        elif i % 3 == 2:  # QinQ: 802.1ad outer tag, 802.1Q inner tag
            buf = buf[:12] + b"\x88\xa8\x00\x0a\x81\x00\x00\x14" + buf[12:]
        yield buf
    _copy(src, dst, tag)


def fragment_tcp(src, dst, parts: int = 3) -> None:
    """Every IPv4 and IPv6 TCP segment with a payload of 48+ bytes as `parts` fragments
    (an IPv6 fragment header on each IPv6 one)."""
    def frag(i, buf):
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) or not isinstance(ip.data, dpkt.tcp.TCP) \
                or len(ip.data.data) < 48:
            yield buf
            return
        body = bytes(ip.data)
        step = (len(body) // parts + 7) & ~7
        pieces = [body[o:o + step] for o in range(0, len(body), step)]
        # the last fragment first: reassembly must not depend on order
        order = list(range(len(pieces)))
        order = order[-1:] + order[:-1]
        for k in order:
            more = k < len(pieces) - 1
            if isinstance(ip, dpkt.ip.IP):
                f = dpkt.ip.IP(src=ip.src, dst=ip.dst, p=ip.p, ttl=ip.ttl, id=i & 0xFFFF,
                               mf=int(more), offset=k * step // 8)
                f.data = pieces[k]
                f.len = 20 + len(pieces[k])
                f = bytes(f)
            else:  # fixed header (next header 44), fragment header, the piece
                head = struct.pack("!IHBB", 0x60000000, 8 + len(pieces[k]), 44, ip.hlim) + ip.src + ip.dst
                f = head + struct.pack("!BBHI", 6, 0, (k * step) | int(more), i) + pieces[k]
            yield bytes(dpkt.ethernet.Ethernet(src=eth.src, dst=eth.dst, type=eth.type, data=f))
    _copy(src, dst, frag)
