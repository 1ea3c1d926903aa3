"""The pcap and pcapng file formats: magic numbers, block types, interfaces, and what a
walk of a capture learns about it (CaptureInfo).  The walking is in capture/pcapfile.py."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAP_HEADER = 24  # bytes of the global header; each record then has a 16-byte header
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}  # SHB bytes 8-12
BT_IDB, BT_OPB, BT_SPB, BT_EPB, BT_DSB = 1, 2, 3, 6, 0x0000000A
SECRETS_TLS_KEYLOG = 0x544C534B
LINKTYPE_UNDECLARED = 0xFFFF  # placeholder for packets on an interface no IDB described
MAX_RECORD = 256 << 20  # a record claiming more than this is corruption, not data
MIN_BODY = {BT_EPB: 20, BT_OPB: 20, BT_SPB: 4, BT_IDB: 8, BT_DSB: 8}  # shorter is damage

# kinds of records a walk yields
META, PACKET = 0, 1


@dataclass
class Interface:
    linktype: int
    snaplen: int
    tsresol: float = 1e-6
    tsoffset: int = 0
    name: str = ""
    ticks_per_sec: int = 1_000_000  # exact form of tsresol, for integer nanoseconds

    def ts_ns(self, ticks: int) -> int:
        return ticks * 1_000_000_000 // self.ticks_per_sec + self.tsoffset * 1_000_000_000


@dataclass
class CaptureInfo:
    path: str
    format: str  # "pcap" or "pcapng"
    compressed: bool
    size: int
    interfaces: list[Interface] = field(default_factory=list)
    tls_keylog: list[bytes] = field(default_factory=list)  # pcapng decryption secrets
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False  # file ends mid-record
    packets: int = 0
    first_ts: float | None = None
    last_ts: float | None = None


def idb_options(ifc: Interface, opts, endian: str) -> Interface:
    """An interface description's options that matter: name, timestamp resolution and offset."""
    off = 0
    while off + 4 <= len(opts):
        code, length = struct.unpack_from(endian + "HH", opts, off)
        val = opts[off + 4:off + 4 + length]
        if code == 0:
            break
        if code == 2:
            ifc.name = bytes(val).decode("utf-8", "replace")
        elif code == 9 and length >= 1:
            v = val[0]
            ifc.tsresol = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
            ifc.ticks_per_sec = 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
        elif code == 14 and length == 8:
            ifc.tsoffset = struct.unpack_from(endian + "q", val, 0)[0]
        off += 4 + ((length + 3) & ~3)
    return ifc
