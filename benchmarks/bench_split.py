"""glancetrace split -c 5000 / -i 10 against editcap on the same capture (run by hand).

    python3 benchmarks/bench_split.py [--against CHECKOUT] [--rounds N] big200m.pcap [big200m.pcapng ...]

Every command runs as a subprocess (so Python start-up counts against us), after a warm-up `cat`
that puts the file in the page cache, outputs into a fresh temporary directory on the same disk
(BENCH_TMP, default /work/bench-data).  editcap is asked for the input's format (-F pcap or
pcapng), which is also its fastest mode.  Each round runs editcap, this checkout's CLI, the split
without the CLI (no click, no option parsing) and, with --against, the CLI of another checkout
(`git archive REV | tar -x -C DIR`), in turn; the medians of wall time and of CPU time (user +
system of the child: steadier when other jobs share the machine), their ratios and this CLI's
peak RSS are printed.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
GLANCETRACE = [sys.executable, "-c", "from glancetrace.cli import main; main()"]
# the same split without the CLI: what the split itself costs (the module was capture/split.py before e993ce3+)
CORE = [sys.executable, "-c", "import sys; from glancetrace.capture.splitter import split_editcap; "
        "c = sys.argv[1] == '-c'; split_editcap(sys.argv[3], 'piece', count=int(sys.argv[2]) if c else 0, "
        "seconds=0 if c else int(sys.argv[2]))"]


def timed(cmd: list[str], code: pathlib.Path, base: pathlib.Path) -> tuple[float, float, int, int]:
    """(wall, CPU, peak RSS KiB, files written) of one command run in a fresh folder."""
    d = tempfile.mkdtemp(dir=base, prefix="split-")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    try:
        subprocess.run(cmd, cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=dict(os.environ, PYTHONPATH=str(code)))
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        files = len(os.listdir(d))
    finally:
        shutil.rmtree(d)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, after.ru_maxrss, files


def one(path: str, mode: list[str], against: str | None, rounds: int) -> None:
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    base = pathlib.Path(os.environ.get("BENCH_TMP", "/work/bench-data"))
    fmt = "pcapng" if path.endswith(".pcapng") else "pcap"
    out = f"piece.{fmt}"
    runs = {"editcap": (["editcap", "-F", fmt, *mode, path, out], ROOT),
            "CLI": ([*GLANCETRACE, "split", "-q", *mode, path, out], ROOT),
            "split only": ([*CORE, *mode, path], ROOT)}
    if against:
        runs["CLI other"] = ([*GLANCETRACE, "split", "-q", *mode, path, out], pathlib.Path(against).resolve())
    got: dict[str, list[tuple[float, float, int, int]]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, (cmd, code) in runs.items():
            got[name].append(timed(cmd, code, base))
    med = {k: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)) for k, v in got.items()}
    # peak memory of a CLI run alone, in a fresh child (ru_maxrss of children is the largest so far)
    rss = subprocess.run([sys.executable, "-c", f"""
import resource, subprocess, tempfile, shutil, os
d = tempfile.mkdtemp(dir={str(base)!r})
subprocess.run({runs['CLI'][0]!r}, cwd=d, check=True, env=dict(os.environ, PYTHONPATH={str(ROOT)!r}))
shutil.rmtree(d)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"""], capture_output=True, text=True,
                         check=True).stdout.strip()
    size = os.path.getsize(path) / 2**20
    print(f"{os.path.basename(path)} ({size:.0f} MiB) split {' '.join(mode)} ({got['CLI'][0][3]} files, "
          f"{rounds} rounds, medians wall / CPU s): "
          + ", ".join(f"{k} {w:.2f} / {c:.2f}" for k, (w, c) in med.items()))
    e = med["editcap"]
    line = (f"  CLI/editcap wall {med['CLI'][0] / e[0]:.2f} CPU {med['CLI'][1] / e[1]:.2f}; "
            f"split only/editcap wall {med['split only'][0] / e[0]:.2f} CPU {med['split only'][1] / e[1]:.2f}")
    if against:
        o = med["CLI other"]
        line += f"; CLI this/other wall {med['CLI'][0] / o[0]:.2f} CPU {med['CLI'][1] / o[1]:.2f}"
    print(line + f"; peak RSS (CLI) {int(rss) / 1024:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("paths", nargs="*", default=["/work/bench-data/big200m.pcap"])
    ap.add_argument("--against", help="another checkout whose CLI runs in the same rounds")
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    for p in a.paths:
        one(p, ["-c", "5000"], a.against, a.rounds)
        one(p, ["-i", "10"], a.against, a.rounds)


if __name__ == "__main__":
    main()
