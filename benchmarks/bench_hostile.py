"""Time and peak memory on pathological captures (issue 16.5/16.6), and the report pass before/after.

    python3 benchmarks/bench_hostile.py connections   # 100k, 200k, 400k one-byte connections
    python3 benchmarks/bench_hostile.py reversed      # 10k, 100k, 1M one-byte segments in reverse order
    python3 benchmarks/bench_hostile.py fingerprint   # one 16 MB SQL statement in the digest
    python3 benchmarks/bench_hostile.py report FILE --base REV   # report pass: this tree vs git REV

Each measurement is a fresh `python3 -m glancetrace report X --format json -o /dev/null -q`
(wall and CPU seconds, peak RSS from getrusage), so imports count as they do for a user.  Captures
are written to /work/bench-data (not committed) by benchmarks/hostile_captures.py.  Prints the growth
from one size to the next: time and memory ratios, and MiB per extra 100k connections / segments.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = pathlib.Path(os.environ.get("BENCH_DATA", "/work/bench-data"))
sys.path.insert(0, str(ROOT))


def run_report(path: str, cwd: pathlib.Path = ROOT) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one report pass in a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "glancetrace", "report", path, "--format", "json", "-o", os.devnull,
                    "-q"], cwd=cwd, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, after.ru_maxrss / 1024  # ru_maxrss of children: the largest one so far


def _series(kind: str, sizes: list[int], make) -> None:
    print(f"| {kind} | file | wall | CPU | peak RSS | CPU x (step) | RSS x (step) | MiB per 100k more |")
    print("|---|---|---|---|---|---|---|---|")
    prev = None
    for n in sizes:
        path = DATA / f"hostile-{kind}-{n}.pcap"
        if not path.exists():
            make(str(path), n)
        wall, cpu, rss = run_report(str(path))
        step = ""
        if prev is not None:
            pn, pcpu, prss = prev
            step = f"{cpu / pcpu:.2f} | {rss / prss:.2f} | {(rss - prss) / (n - pn) * 1e5:.1f}"
        else:
            step = "| |"
        print(f"| {n:,} | {path.stat().st_size / 2**20:.0f} MiB | {wall:.1f} s | {cpu:.1f} s | {rss:.0f} MiB | {step} |")
        prev = (n, cpu, rss)


def fingerprint_cost() -> None:
    from glancetrace.analysis.sql_digest import fingerprint

    n = 16 << 20
    shapes = {
        "one string literal": "INSERT INTO t VALUES ('" + "a\\'b" * (n // 4) + "')",
        "1.9M value rows": "INSERT INTO t (a, b) VALUES " + ",".join("(1, 'x')" for _ in range(n // 9)),
        "2.8M-item IN list": "SELECT * FROM t WHERE id IN (" + ",".join("12345" for _ in range(n // 6)) + ")",
    }
    for name, sql in shapes.items():
        t = time.process_time()
        fingerprint(sql)
        cpu = time.process_time() - t
        tracemalloc.start()  # (traces the regular expression engine's allocations too)
        fingerprint(sql)
        grew = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"{name:20s} {len(sql) / 2**20:5.1f} MiB  CPU {cpu:6.2f} s  peak +{grew:.0f} MiB")


def compare_report(path: str, base: str, rounds: int = 3) -> None:
    """The report pass of this tree against git revision `base`, alternating, same run."""
    with tempfile.TemporaryDirectory() as tmp:
        old = pathlib.Path(tmp) / "base"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", base], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        rows = {"base": [], "this": []}
        for _ in range(rounds):
            rows["base"].append(run_report(path, old))
            rows["this"].append(run_report(path, ROOT))
    for name, r in rows.items():
        print(f"{name:5s} wall {' '.join(f'{x[0]:.2f}' for x in r)} s  CPU {' '.join(f'{x[1]:.2f}' for x in r)} s"
              f"  min CPU {min(x[1] for x in r):.2f} s")
    print(f"ratio (min CPU this / base): {min(x[1] for x in rows['this']) / min(x[1] for x in rows['base']):.3f}")


def main() -> None:
    from hostile_captures import connections, reversed_segments

    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["connections", "reversed", "fingerprint", "report"])
    ap.add_argument("file", nargs="?")
    ap.add_argument("--base", default="main")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    if a.what == "connections":
        _series("connections", [100_000, 200_000, 400_000], connections)
    elif a.what == "reversed":
        _series("reversed", [10_000, 100_000, 1_000_000], reversed_segments)
    elif a.what == "fingerprint":
        fingerprint_cost()
    else:
        compare_report(a.file, a.base, a.rounds)


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    main()
