"""A TCP segment as the capture hands it to reassembly, and the TCP header it is read from."""

from __future__ import annotations

import struct
from dataclasses import dataclass

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

TCP_HEADER = struct.Struct("!HHIIBBH")


@dataclass(slots=True)
class Segment:
    src: bytes
    sport: int
    dst: bytes
    dport: int
    seq: int
    ack: int
    flags: int
    window: int
    payload: memoryview
    missing: int  # payload bytes the IP header announces but the capture cut off (snaplen)


def tcp_segment(tcp: memoryview, declared: int, src: bytes, dst: bytes) -> Segment:
    """The segment of a TCP header and payload that the IP header says is `declared` bytes long.
    Raises ValueError on an impossible header length, struct.error when cut short."""
    sport, dport, seq, ack, offx, flags, win = TCP_HEADER.unpack_from(tcp, 0)
    thl = (offx >> 4) * 4
    if thl < 20:
        raise ValueError("TCP header shorter than 20 bytes")
    payload = tcp[thl:]
    # snaplen cut: the IP header promised more bytes than the frame holds
    missing = declared - thl - len(payload)
    if missing < 0:  # Ethernet padding beyond the IP datagram
        payload = payload[:declared - thl] if declared > thl else payload[:0]
        missing = 0
    return Segment(bytes(src), sport, bytes(dst), dport, seq, ack, flags, win, payload, missing)
