"""Frame iteration with IP/TCP header decoding: CaptureReader + LinkDecoder against
`cat FILE > /dev/null` and against dpkt (dpkt.pcap.Reader + dpkt.ethernet.Ethernet).

    python3 benchmarks/bench_decode.py /work/bench-data/big200m.pcap [...]

Run by hand; each measurement in a fresh child so peak RSS (ru_maxrss) is its own.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

OURS = """
import sys, resource
from glancetrace.capture.pcapfile import CaptureReader
from glancetrace.capture.link import LinkDecoder
r = CaptureReader(sys.argv[1]); d = LinkDecoder(); lts = [i.linktype for i in r.info.interfaces]
n = segs = 0
for frame, ts, iface, data, origlen in r.packets():
    n += 1
    if d.decode(r.info.interfaces[iface].linktype, data) is not None:
        segs += 1
print(n, segs, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

DPKT = """
import sys, resource, dpkt
n = segs = 0
with open(sys.argv[1], 'rb') as f:
    for ts, buf in dpkt.pcap.Reader(f):
        n += 1
        eth = dpkt.ethernet.Ethernet(buf)
        if isinstance(eth.data, (dpkt.ip.IP, dpkt.ip6.IP6)) and isinstance(eth.data.data, dpkt.tcp.TCP):
            segs += 1
print(n, segs, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout
    return time.perf_counter() - t, out.split()


def main():
    for path in sys.argv[1:] or ["/work/bench-data/big200m.pcap"]:
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)  # warm the cache
        cat, _ = run(["sh", "-c", f"cat '{path}' > /dev/null"])
        ours, (n, segs, rss) = run([sys.executable, "-c", OURS, path])
        dp, (n2, segs2, rss2) = run([sys.executable, "-c", DPKT, path])
        assert (n, segs) == (n2, segs2), "both must see the same frames and segments"
        size = os.path.getsize(path) / 2**20
        print(f"{os.path.basename(path)} ({size:.0f} MiB, {n} frames): cat {cat:.2f} s, "
              f"glancetrace {ours:.2f} s ({ours / cat:.1f}x cat, {ours / int(n) * 1e6:.2f} us/frame, "
              f"peak RSS {int(rss) / 1024:.0f} MiB), dpkt {dp:.2f} s ({dp / cat:.1f}x cat, "
              f"{dp / ours:.1f}x glancetrace, peak RSS {int(rss2) / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
