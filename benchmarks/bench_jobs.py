"""What `--jobs` can gain, measured on this machine (run by hand, one run, ratios printed).

    python3 benchmarks/bench_jobs.py big2g.pcap [--copy-for-two /tmp/big2g_b.pcap]

1. Shards run alone, one after another, against one whole pass: each shard gets the machine's cores
   to itself, as every worker would on a machine with enough cores, so the slowest shard's time is
   what `--jobs N` would take there (plus forking and merging).  Printed for N = 2 and 4, with the
   shards' CPU seconds summed against the pass's (what sharding costs: every shard walks all records).
2. Two captures (the file and a copy of it): `glancetrace report A B --jobs 1` against `--jobs 2`, where
   each worker decodes one whole capture and nothing is read twice.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from glancetrace.parallel import shard_pass
from glancetrace.pipeline import Options, Pipeline


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed(fn) -> tuple[float, float]:
    c, t = cpu(), time.perf_counter()
    fn()
    return time.perf_counter() - t, cpu() - c


def shards_alone(path: str) -> None:
    one, one_cpu = timed(lambda: Pipeline(Options()).run([path]))
    print(f"one pass: {one:.2f} s, {one_cpu:.2f} CPU s")
    for n in (2, 4):
        runs = [timed(lambda k=k: shard_pass([path], Options(), k, n)) for k in range(n)]
        walls = ", ".join(f"{w:.2f}" for w, _ in runs)
        slowest = max(w for w, _ in runs)
        print(f"{n} shards alone: {walls} s; slowest {slowest:.2f} s = {one / slowest:.2f}x faster than one pass; "
              f"CPU {sum(c for _, c in runs):.2f} s vs {one_cpu:.2f} s")


def two_captures(path: str, copy: str) -> None:
    if not os.path.exists(copy):
        shutil.copyfile(path, copy)
    subprocess.run(["cat", path, copy], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    out = os.path.join(tempfile.mkdtemp(), "r.html")
    base = [sys.executable, "-m", "glancetrace", "report", path, copy, "-q", "-o", out]
    times = {}
    for jobs in (1, 2, 1, 2):
        t = time.perf_counter()
        subprocess.run(base + ["--jobs", str(jobs)], check=True)
        times.setdefault(jobs, []).append(time.perf_counter() - t)
    print(f"two captures: --jobs 1 {', '.join(f'{x:.2f}' for x in times[1])} s; "
          f"--jobs 2 {', '.join(f'{x:.2f}' for x in times[2])} s; "
          f"best of each: {min(times[1]) / min(times[2]):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("capture")
    ap.add_argument("--copy-for-two", help="where to put the copy for the two-capture run (default: skip it)")
    a = ap.parse_args()
    print(f"{os.cpu_count()} cores; {a.capture} ({os.path.getsize(a.capture) / 2**30:.2f} GiB)")
    shards_alone(a.capture)
    if a.copy_for_two:
        two_captures(a.capture, a.copy_for_two)


if __name__ == "__main__":
    main()
