"""Pathological captures for the time and memory benchmarks, written with dpkt (fast enough for millions
of records).

    python3 benchmarks/hostile_captures.py connections N OUT [--close] [--gap SECONDS]
    python3 benchmarks/hostile_captures.py reversed N OUT

`connections`: N client connections to Glance (9292), MySQL (3306) and an unlisted port in turn, each a
SYN and one data byte (with `--close`, the byte carries FIN: the connection ends), no call and no
statement.  `reversed`: one HTTP connection whose N one-byte request segments come in reverse order.
"""

from __future__ import annotations

import argparse
import socket
import struct

import dpkt

SERVER = socket.inet_aton("10.0.0.1")
PORTS = (9292, 3306, 8777)


def _frame(src: bytes, dst: bytes, sport: int, dport: int, seq: int, ack: int, flags: int,
           data: bytes = b"") -> bytes:
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq & 0xFFFFFFFF, ack=ack, flags=flags, win=65535,
                       data=data)
    ip = dpkt.ip.IP(src=src, dst=dst, p=dpkt.ip.IP_PROTO_TCP, ttl=64, data=tcp)
    ip.len = 20 + len(tcp)
    eth = dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip)
    return bytes(eth)


def connections(path: str, n: int, close: bool = False, gap: float = 1e-5) -> None:
    """N short client connections (a SYN, then one byte), `gap` seconds apart."""
    ts = 1.7e9
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f)
        for i in range(n):
            src = socket.inet_aton(f"10.{1 + (i >> 16) % 200}.{(i >> 8) & 255}.{i & 255}")
            sport, dport = 32768 + i % 28000, PORTS[i % len(PORTS)]
            w.writepkt(_frame(src, SERVER, sport, dport, 1000, 0, dpkt.tcp.TH_SYN), ts)
            flags = dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH | (dpkt.tcp.TH_FIN if close else 0)
            w.writepkt(_frame(src, SERVER, sport, dport, 1001, 1, flags, b"G"), ts + gap / 2)
            ts += gap


def reversed_segments(path: str, n: int) -> None:
    """One connection to 9292: the handshake, then N one-byte segments, last byte first."""
    client = socket.inet_aton("10.9.9.9")
    ts = 1.7e9
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f)
        w.writepkt(_frame(client, SERVER, 40000, 9292, 0, 0, dpkt.tcp.TH_SYN), ts)
        w.writepkt(_frame(SERVER, client, 9292, 40000, 5000, 1, dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK), ts)
        w.writepkt(_frame(client, SERVER, 40000, 9292, 1, 5001, dpkt.tcp.TH_ACK), ts)
        for k in range(n, 0, -1):
            ts += 1e-6
            w.writepkt(_frame(client, SERVER, 40000, 9292, k, 5001, dpkt.tcp.TH_ACK, b"x"), ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["connections", "reversed"])
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--close", action="store_true")
    ap.add_argument("--gap", type=float, default=1e-5)
    a = ap.parse_args()
    if a.kind == "connections":
        connections(a.out, a.n, a.close, a.gap)
    else:
        reversed_segments(a.out, a.n)


if __name__ == "__main__":
    main()
