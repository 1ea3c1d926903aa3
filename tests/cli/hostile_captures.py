"""Hostile captures made from real ones (the rig's), for the command-line tests.

`rename_image` rewrites an image's name wherever it is on the wire, with text of the same byte length
(so HTTP Content-Length, MySQL packet and length-encoded string lengths and TCP sequence numbers all
stay right): in MySQL traffic raw bytes (control characters in SQL text and result rows), in HTTP
JSON bodies \\u escapes (which the JSON decoder turns into the same kind of characters, a lone
surrogate included).  `far_future` writes a pcapng whose packets that start HTTP requests and MySQL
queries carry a timestamp in the year 586524.
"""

from __future__ import annotations

import struct
import subprocess

import dpkt

MYSQL = 3306


def _tcp(buf: bytes):
    ip = dpkt.ethernet.Ethernet(buf).data
    return ip.data if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(ip.data, dpkt.tcp.TCP) else None


def rename_image(src: str, dst: str, name: bytes, in_sql: bytes, in_http: bytes) -> int:
    """Replace `name` by `in_sql` in MySQL packets and by `in_http` in the others; frames changed."""
    assert len(in_sql) == len(name) == len(in_http), "same length, or every length on the wire breaks"
    changed = 0
    with open(src, "rb") as f, open(dst, "wb") as out:
        r = dpkt.pcap.Reader(f)
        w = dpkt.pcap.Writer(out, snaplen=r.snaplen, linktype=r.datalink())
        for ts, buf in r:
            if name in buf:
                tcp = _tcp(buf)
                mysql = tcp is not None and MYSQL in (tcp.sport, tcp.dport)
                buf = buf.replace(name, in_sql if mysql else in_http)
                changed += 1
            w.writepkt(buf, ts)
    return changed


def far_future(src: str, dst: str) -> int:
    """`src` as pcapng (editcap), with the first packet that starts an HTTP request and the first that
    starts a MySQL COM_QUERY stamped 2**64 - 1 microseconds after 1970; packets changed."""
    subprocess.run(["editcap", "-F", "pcapng", src, dst], check=True, capture_output=True)
    data = bytearray(open(dst, "rb").read())
    off = 0
    done: set[str] = set()
    while off + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, off)
        if btype == 6:  # enhanced packet block: iface, ts high, ts low, caplen, origlen, data
            caplen = struct.unpack_from("<I", data, off + 20)[0]
            tcp = _tcp(bytes(data[off + 28: off + 28 + caplen]))
            payload = bytes(tcp.data) if tcp is not None else b""
            kind = ("http" if payload[:5] in (b"GET /", b"POST ", b"PUT /", b"PATCH") else
                    "sql" if tcp is not None and tcp.dport == MYSQL and payload[4:5] == b"\x03" else None)
            if kind and kind not in done:
                struct.pack_into("<II", data, off + 12, 0xFFFFFFFF, 0xFFFFFFFF)
                done.add(kind)
        off += blen
    open(dst, "wb").write(data)
    return len(done)
