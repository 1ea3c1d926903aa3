"""The rig captures of failures whose cause the report names (tests/fixtures/rig-causes, made by
scripts/make_rig_fixtures.sh causes): capture.pcap, truth.json and gzip'd log slices per scenario."""

from __future__ import annotations

import functools
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "rig-causes"
SCENARIOS = sorted(p.name for p in ROOT.iterdir() if (p / "truth.json").exists()) if ROOT.is_dir() else []


def truth(scenario: str) -> dict:
    return json.loads((ROOT / scenario / "truth.json").read_text())


def capture(scenario: str) -> str:
    return str(ROOT / scenario / "capture.pcap")


@functools.lru_cache(maxsize=None)
def analysed(scenario: str) -> dict:
    from glancetrace.analysis.analyze import analyze
    from glancetrace.pipeline import decode
    return analyze(decode(capture(scenario))).to_dict()


def without_port(src, port: int, dest) -> int:
    """Copy the pcap `src` to `dest` without the TCP packets to or from `port` (a capture that lost one
    connection, or a filter that left a port out); returns how many packets were dropped."""
    import dpkt

    with open(src, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        packets = list(reader)
        link = reader.datalink()
    keep = [(ts, buf) for ts, buf in packets if not _on_port(buf, port)]
    with open(dest, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=link)
        for ts, buf in keep:
            w.writepkt(buf, ts)
    return len(packets) - len(keep)


def _on_port(buf: bytes, port: int) -> bool:
    import dpkt

    try:
        ip = dpkt.ethernet.Ethernet(buf).data
    except (dpkt.UnpackError, IndexError):
        return False
    tcp = getattr(ip, "data", None)
    return isinstance(tcp, dpkt.tcp.TCP) and port in (tcp.sport, tcp.dport)
