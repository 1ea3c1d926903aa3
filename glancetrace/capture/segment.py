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
    # SYN and SYN/ACK only: the window scale shift the sender announced (TCP option 3); -1 when it sent
    # none, and on every other segment (their options are not read: the per-segment path stays cheap)
    wscale: int = -1


MAX_WSCALE = 14  # RFC 7323 2.3: a larger shift is taken as 14


def window_scale(options) -> int:
    """The shift of the window scale option (kind 3) among a SYN's TCP `options` bytes; -1 without one
    (or when the options are cut short or malformed before it)."""
    i, n = 0, len(options)
    while i < n:
        kind = options[i]
        if kind == 0:  # end of options
            break
        if kind == 1:  # no-operation: one byte
            i += 1
            continue
        if i + 1 >= n or options[i + 1] < 2:
            break
        if kind == 3 and options[i + 1] == 3 and i + 2 < n:
            return min(options[i + 2], MAX_WSCALE)
        i += options[i + 1]
    return -1


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
    wscale = window_scale(tcp[20:thl]) if flags & SYN else -1
    return Segment(bytes(src), sport, bytes(dst), dport, seq, ack, flags, win, payload, missing, wscale)
