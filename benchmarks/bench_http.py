"""HTTP decode speed: glancetrace's whole pass (HTTP only) vs tshark listing HTTP requests.

    python3 benchmarks/bench_http.py FILE [--profile]

Prints both wall times from the same run, their ratio, our transaction count and the peak RSS
of this process (the tshark child is measured separately via RUSAGE_CHILDREN).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--profile", action="store_true", help="cProfile our pass, top 25 by own time")
    a = ap.parse_args()

    from glancetrace.pipeline import decode
    from glancetrace.protocols.http import HttpTransaction

    t0 = time.perf_counter()
    if a.profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        res = prof.runcall(decode, a.file, want_mysql=False)
    else:
        res = decode(a.file, want_mysql=False)
    ours = time.perf_counter() - t0
    ntx = len(res.of_type(HttpTransaction))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    t0 = time.perf_counter()
    out = subprocess.run(["tshark", "-r", a.file, "-Y", "http.request", "-T", "fields",
                          "-e", "http.request.method", "-e", "http.request.uri"],
                         capture_output=True, text=True, check=True).stdout
    theirs = time.perf_counter() - t0
    trss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(f"file: {a.file}  packets: {res.packets}  HTTP transactions: {ntx}  tshark requests: {len(out.splitlines())}")
    print(f"glancetrace decode: {ours:8.2f} s   peak RSS {rss:7.0f} MiB")
    print(f"tshark http.request: {theirs:7.2f} s   peak RSS {trss:7.0f} MiB")
    print(f"ratio ours/tshark: {ours / theirs:.2f}")
    if a.profile:
        pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
