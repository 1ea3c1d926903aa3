"""glancetrace split -c 5000 against editcap -c 5000 on the same capture (run by hand).

    python3 benchmarks/bench_split.py /work/bench-data/big200m.pcap [/work/bench-data/big2g.pcap ...]

Both commands run as subprocesses (so Python start-up counts against us), each
once after a warm-up `cat` that puts the file in the page cache, outputs into a
fresh temporary directory on the same disk.  editcap is asked for the input's
format (-F pcap), which is also its fastest mode.  Prints wall times, the ratio
(goal <= 1.0) and glancetrace's peak RSS (ru_maxrss of the child).
"""

from __future__ import annotations

import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
GLANCETRACE = [sys.executable, "-c", "from glancetrace.cli import main; main()"]
# the same split without the CLI (click, option parsing): what the split itself costs
CORE = [sys.executable, "-c", "import sys; from glancetrace.capture.splitter import split_editcap; "
        "c = sys.argv[1] == '-c'; split_editcap(sys.argv[3], 'piece.pcap', count=int(sys.argv[2]) if c else 0, "
        "seconds=0 if c else int(sys.argv[2]))"]


def timed(cmd, cwd) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    wall = time.perf_counter() - t
    return wall, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def one(path: str, mode: list[str]) -> None:
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    base = pathlib.Path(os.environ.get("BENCH_TMP", "/work/bench-data"))
    results = {}
    for name, cmd in (("editcap", ["editcap", "-F", "pcap", *mode, path, "piece.pcap"]),
                      ("glancetrace", [*GLANCETRACE, "split", "-q", *mode, path, "piece.pcap"]),
                      ("core", [*CORE, *mode, path])):
        d = tempfile.mkdtemp(dir=base, prefix=f"split-{name}-")
        try:
            wall, _rss = timed(cmd, d)
            files = len(os.listdir(d))
        finally:
            shutil.rmtree(d)
        results[name] = (wall, files)
    # peak memory of a glancetrace run alone, measured in a fresh child
    rss = subprocess.run([sys.executable, "-c", f"""
import resource, subprocess, tempfile, shutil, os
d = tempfile.mkdtemp(dir={str(base)!r})
subprocess.run({GLANCETRACE + ["split", "-q", *mode, path, "piece.pcap"]!r}, cwd=d, check=True,
               env=dict(os.environ, PYTHONPATH={str(ROOT)!r}))
shutil.rmtree(d)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"""], capture_output=True, text=True,
                         check=True).stdout.strip()
    size = os.path.getsize(path) / 2**20
    e, g, c = results["editcap"], results["glancetrace"], results["core"]
    print(f"{os.path.basename(path)} ({size:.0f} MiB) split {' '.join(mode)}: editcap {e[0]:.2f} s "
          f"({e[1]} files), glancetrace CLI {g[0]:.2f} s ({g[1]} files), split without CLI imports "
          f"{c[0]:.2f} s; ratio CLI/editcap {g[0] / e[0]:.2f}, ratio split/editcap {c[0] / e[0]:.2f}; "
          f"glancetrace peak RSS {int(rss) / 1024:.0f} MiB")


def main() -> None:
    paths = sys.argv[1:] or ["/work/bench-data/big200m.pcap"]
    for p in paths:
        one(p, ["-c", "5000"])
        one(p, ["-i", "10"])


if __name__ == "__main__":
    main()
