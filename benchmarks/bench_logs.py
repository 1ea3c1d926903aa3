"""Speed and memory of reading big logs beside a capture (issue 18: logs are streamed), before and after.

Writes a haproxy log and a glance-api oslo.log from the real ones of tests/fixtures/rig-logs/tls_overcloud:
copies of their lines on earlier days (times shifted, cycling over ten years), then the real lines at their
own time, so only those fall in the capture's window.  Each size is read with the capture's events in hand
(offset estimated, lines near the capture kept), in a fresh process, by this checkout ("after") and by the
code of another git revision ("before", default main, extracted with git archive): lines/s and peak RSS
in the same run, under the same load.

    python3 benchmarks/bench_logs.py [--before REF] [--before-max MB] [--near] [SIZE_MB ...]   # default: 64 256 1024

SIZE_MB is the two logs together (half each).  --near: the copies are on the capture's day, hours before it
(within the widest clock offset, so every line is parsed: the worst case; past 100,000 such records the
reader takes a second pass).  The old code reads ~10^4 lines/s: it runs up to --before-max
(default 256) only; lines/s does not depend on the size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "rig-logs" / "tls_overcloud"
OUT = pathlib.Path(os.environ.get("BENCH_DATA", "/work/bench-data"))
_HAPROXY_DAY = re.compile(r"\[(\d\d/\w{3}/\d{4}):")
_OSLO_DAY = re.compile(r"^(\d{4}-\d\d-\d\d)(?= \d\d:)", re.M)
_HAPROXY_HOUR = re.compile(r"(\[\d\d/\w{3}/\d{4}:)(\d\d)(?=:)")
_OSLO_HOUR = re.compile(r"^(\d{4}-\d\d-\d\d )(\d\d)(?=:)", re.M)

CHILD = r"""
import json, resource, sys, time
from glancetrace.pipeline import decode
from glancetrace.analysis.logjoin import LogSpec, read_logs, _window
res = decode(sys.argv[1])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
files = read_logs([LogSpec(p, f) for p, f in zip(sys.argv[2::2], sys.argv[3::2])], res.events, _window(res))
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "before_kib": base,
                  "lines": sum(f.stats.lines for f in files), "kept": sum(len(f.requests) + len(f.messages) for f in files),
                  "passes": [getattr(f, "passes", 2) for f in files],
                  "offsets": [[f.offset, f.offset_matches] for f in files]}))
"""


def _write(path: pathlib.Path, block: str, size: int, day_of, shift) -> None:
    """`block` (the real lines) after copies of it on earlier days, `size` bytes in all."""
    day0 = dt.datetime.strptime(day_of(block), "%Y-%m-%d")
    copies = max(1, size // len(block))
    with open(path, "w") as f:
        for k in range(copies, 0, -1):
            f.write(shift(block, day0 - dt.timedelta(days=1 + k % 3650)))
        f.write(block)


def _write_near(path: pathlib.Path, block: str, size: int, hour_rx: re.Pattern) -> None:
    """`block` after copies of it 1 to 10 hours earlier the same day (the fixtures' lines are after noon)."""
    copies = max(1, size // len(block))
    with open(path, "w") as f:
        for k in range(copies, 0, -1):
            f.write(hour_rx.sub(lambda m, k=k: f"{m.group(1)}{int(m.group(2)) - 1 - k % 10:02d}", block))
        f.write(block)


def build(size_mb: int, near: bool = False) -> list[tuple[pathlib.Path, str]]:
    OUT.mkdir(parents=True, exist_ok=True)
    half = (size_mb << 20) // 2
    haproxy = gzip.open(FIX / "haproxy.log.gz", "rt").read()
    oslo = gzip.open(FIX / "glance_api.log.gz", "rt").read()
    if near:
        out = [(OUT / f"haproxy-near-{size_mb}m.log", "haproxy"), (OUT / f"glance-api-near-{size_mb}m.log", "oslo")]
        for (path, _), block, rx in zip(out, (haproxy, oslo), (_HAPROXY_HOUR, _OSLO_HOUR)):
            if not path.exists() or path.stat().st_size < half * 0.99:
                _write_near(path, block, half, rx)
        return out
    out = [(OUT / f"haproxy-{size_mb}m.log", "haproxy"), (OUT / f"glance-api-{size_mb}m.log", "oslo")]
    if not out[0][0].exists() or out[0][0].stat().st_size < half * 0.99:
        _write(out[0][0], haproxy, half,
               lambda b: dt.datetime.strptime(_HAPROXY_DAY.search(b).group(1), "%d/%b/%Y").strftime("%Y-%m-%d"),
               lambda b, d: _HAPROXY_DAY.sub("[" + d.strftime("%d/%b/%Y") + ":", b))
    if not out[1][0].exists() or out[1][0].stat().st_size < half * 0.99:
        _write(out[1][0], oslo, half, lambda b: _OSLO_DAY.search(b).group(1),
               lambda b, d: _OSLO_DAY.sub(d.strftime("%Y-%m-%d"), b))
    return out


def measure(code: pathlib.Path, logs) -> dict:
    args = [str(FIX / "capture.pcap")] + [a for p, fmt in logs for a in (str(p), fmt)]
    env = dict(os.environ, PYTHONPATH=str(code))
    r = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=code, env=env, capture_output=True, text=True,
                       check=True)
    d = json.loads(r.stdout)
    d["mb"] = sum(p.stat().st_size for p, _ in logs) / 2**20
    return d


def old_code(ref: str, into: str) -> pathlib.Path:
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "glancetrace"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", into], input=tar.stdout, check=True)
    return pathlib.Path(into)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="main")
    ap.add_argument("--before-max", type=int, default=256)
    ap.add_argument("--near", action="store_true", help="copies hours before the capture, the same day")
    ap.add_argument("sizes", nargs="*", type=int, default=[64, 256, 1024])
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        before = old_code(a.before, tmp)
        for mb in a.sizes:
            logs = build(mb, a.near)
            for label, code in (("before", before), ("after", ROOT)):
                if label == "before" and mb > a.before_max:
                    continue
                rows.append((label, measure(code, logs)))
    print("| code | logs | lines | kept | passes | read | lines/s | peak RSS | RSS growth over decoding the capture |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, d in rows:
        print(f"| {label} | {d['mb']:,.0f} MiB | {d['lines']:,} | {d['kept']} | {'+'.join(map(str, d['passes']))} | "
              f"{d['seconds']:.1f} s | "
              f"{d['lines'] / d['seconds']:,.0f} | {d['rss_kib'] / 1024:.0f} MiB | "
              f"{(d['rss_kib'] - d['before_kib']) / 1024:.1f} MiB |")
    speed = {lab: [d["lines"] / d["seconds"] for lb, d in rows if lb == lab] for lab in ("before", "after")}
    if speed["before"] and speed["after"]:
        print(f"lines/s after / before: {min(speed['after']) / max(speed['before']):.1f}x at least")
    print("offsets (s, matches) on the largest:", rows[-1][1]["offsets"])


if __name__ == "__main__":
    main()
