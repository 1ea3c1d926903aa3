"""Instructions, not seconds: `report` of two checkouts counted by valgrind (run by hand; prints ratios).

    python3 benchmarks/bench_instructions.py /tmp/gt-base SMALL.pcap BIG.pcap [SIZE_MB ...]

On a shared 2-core VM single runs of `report` spread by 20-40 %, more than the few per cent a change is
judged by (benchmarks/README.md).  valgrind's callgrind counts the instructions a process executes: nearly the
same count run after run, whatever else the machine does (threads included: the hashing thread's too, whose
scheduling moves a count by up to 0.4 %; benchmarks/bench_stages.py counts stages steadier).  Each
checkout's bytecode is compiled first, as an installed package's is.  A small capture gives the fixed part of
a run (imports, analysis, rendering), a bigger one the part that grows with the capture; the ratio of the two
checkouts is printed for each, and projected for captures of SIZE_MB (default 200 and 2048) as fixed +
per-MB × size.  Each run takes about 80x its native time (40 MB: ~80 s).
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parents[1]


def instructions(code: pathlib.Path, path: str) -> int:
    folder = tempfile.mkdtemp()
    try:
        out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={folder}/cg.out",
                              sys.executable, "-m", "glancetrace", "report", path, "--jobs", "1", "-q", "-o",
                              os.path.join(folder, "r.html")],
                             cwd=code, env=dict(os.environ, PYTHONPATH=str(code)), capture_output=True, text=True,
                             check=True).stderr
    finally:
        shutil.rmtree(folder)
    return int(re.search(r"Collected : (\d+)", out).group(1))


def main(other: str, small: str, big: str, sizes: list[float]) -> None:
    codes = {"other": pathlib.Path(other).resolve(), "this": HERE}
    for code in codes.values():
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(code / "glancetrace")], check=True,
                       stdout=subprocess.DEVNULL)
    mb = (os.path.getsize(big) - os.path.getsize(small)) / 2**20
    parts = {}
    for k, code in codes.items():
        subprocess.run([sys.executable, "-m", "glancetrace", "report", small, "-q", "-o", os.devnull], cwd=code,
                       env=dict(os.environ, PYTHONPATH=str(code)), check=True)  # (caches filled, as for a user)
        fixed, whole = instructions(code, small), instructions(code, big)
        parts[k] = (fixed, (whole - fixed) / mb)
        print(f"{k:5s} {code}: {fixed / 1e9:.3f} G instructions on {small}, {whole / 1e9:.3f} G on {big}; "
              f"{parts[k][1] / 1e6:.1f} M per MB beyond the fixed part")
    (fo, vo), (ft, vt) = parts["other"], parts["this"]
    print(f"fixed part this / other: {ft / fo:.3f}; per MB this / other: {vt / vo:.3f}")
    for size in sizes:
        print(f"projected for {size:g} MB: this / other {(ft + vt * size) / (fo + vo * size):.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], [float(s) for s in sys.argv[4:]] or [200.0, 2048.0])
