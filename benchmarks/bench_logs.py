"""Memory and speed of reading a big log beside a capture (issue 18: logs are streamed).

Builds haproxy logs of growing size from a real one (tests/fixtures/rig-logs/tls_overcloud): the real
lines once at their own time, then copies shifted day after day before them, so only the real ones
fall in the capture's window.  Each size is read in a fresh process (offset estimation pass + keeping
pass); peak RSS and time are printed with their ratios to the smallest.

    python3 benchmarks/bench_logs.py [SIZE_MB ...]      # default: 10 100 1000
"""

from __future__ import annotations

import gzip
import json
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "rig-logs" / "tls_overcloud"
OUT = pathlib.Path(os.environ.get("BENCH_DATA", "/work/bench-data"))
_DATE = re.compile(r"\[(\d\d)/(\w{3})/(\d{4}):")

CHILD = r"""
import json, resource, sys, time
from glancetrace.pipeline import decode
from glancetrace.analysis.logjoin import LogSpec, read_logs, _window
res = decode(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
files = read_logs([LogSpec(sys.argv[2], "haproxy")], res.events, _window(res))
dt = time.perf_counter() - t0
f = files[0]
print(json.dumps({"seconds": dt, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "before_kib": base,
                  "lines": f.stats.lines, "kept": len(f.requests), "offset": f.offset, "matches": f.offset_matches}))
"""


def build(size_mb: int) -> pathlib.Path:
    path = OUT / f"haproxy-{size_mb}m.log"
    if path.exists() and path.stat().st_size >= size_mb << 20:
        return path
    real = gzip.open(FIX / "haproxy.log.gz", "rt").read().splitlines()
    block = "\n".join(real) + "\n"
    copies = max(1, (size_mb << 20) // len(block))
    OUT.mkdir(parents=True, exist_ok=True)
    import datetime as dt
    with open(path, "w") as f:
        day0 = dt.datetime.strptime(_DATE.search(block).expand(r"\1/\2/\3"), "%d/%b/%Y")
        for k in range(copies, 0, -1):  # whole days before the capture (cycling over ten years)
            d = (day0 - dt.timedelta(days=1 + k % 3650)).strftime("%d/%b/%Y")
            f.write(_DATE.sub("[" + d + ":", block))
        f.write(block)
    return path


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10, 100, 1000]
    rows = []
    for mb in sizes:
        log = build(mb)
        r = subprocess.run([sys.executable, "-c", CHILD, str(FIX / "capture.pcap"), str(log)], cwd=ROOT,
                           capture_output=True, text=True, check=True)
        d = json.loads(r.stdout)
        d["mb"] = log.stat().st_size / 2**20
        rows.append(d)
    b = rows[0]
    print("| log | lines | kept | read (2 passes) | MB/s | peak RSS | RSS growth over decode | ratio RSS to smallest |")
    print("|---|---|---|---|---|---|---|---|")
    for d in rows:
        print(f"| {d['mb']:,.0f} MiB | {d['lines']:,} | {d['kept']} | {d['seconds']:.1f} s | {d['mb'] / d['seconds']:.0f} | "
              f"{d['rss_kib'] / 1024:.0f} MiB | {(d['rss_kib'] - d['before_kib']) / 1024:.1f} MiB | "
              f"{d['rss_kib'] / b['rss_kib']:.2f} |")
    print(f"offset estimate on the largest: {rows[-1]['offset']:+.3f} s from {rows[-1]['matches']} matches")


if __name__ == "__main__":
    main()
