"""One command, two checkouts, alternating in the same run (run by hand; prints the ratio).

    python3 benchmarks/bench_against.py /tmp/gt-main big200m.pcap [ROUNDS [COMMAND ARGS...]]

`git archive main | tar -x -C /tmp/gt-main` makes the other checkout.  Each round runs
`glancetrace report FILE --jobs 1 -q` (or `glancetrace COMMAND ARGS... FILE OUT`, e.g.
`split -q -c 5000`, OUT a file in a fresh folder) once with the other checkout's package and once with this
one's (order alternating between rounds), each in a fresh process, page cache warmed first;
the medians and minima and their ratios are printed (the minimum is the steadier one
when other jobs come and go), of wall time and of CPU time (user + system of the child:
steadier than wall time when other jobs share the machine).  Used to check that a refactoring
costs no speed.
"""

from __future__ import annotations

import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parents[1]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(code: pathlib.Path, path: str, command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one command."""
    folder = tempfile.mkdtemp()
    if command:
        args = [*command, path, os.path.join(folder, "out.pcap")]
    else:
        args = ["report", path, "--jobs", "1", "-q", "-o", os.path.join(folder, "r.html")]
    t, c = time.perf_counter(), _cpu()
    subprocess.run([sys.executable, "-m", "glancetrace", *args], check=True, cwd=code,
                   env=dict(os.environ, PYTHONPATH=str(code)))
    wall, cpu = time.perf_counter() - t, _cpu() - c
    shutil.rmtree(folder)
    return wall, cpu


def main(other: str, path: str, rounds: int, command: list[str]) -> None:
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
    codes = {"other": pathlib.Path(other).resolve(), "this": HERE}
    for code in codes.values():  # as an installed package has them: with PYTHONDONTWRITEBYTECODE set, a
        # checkout without them compiles every module in every run (~0.2 s, more than the change measured)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(code / "glancetrace")], check=True,
                       stdout=subprocess.DEVNULL)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in codes}
    for r in range(rounds):
        for k in (("other", "this") if r % 2 == 0 else ("this", "other")):
            times[k].append(run(codes[k], path, command))
    for i, what in enumerate(("wall", "CPU")):
        med = {k: statistics.median(t[i] for t in v) for k, v in times.items()}
        low = {k: min(t[i] for t in v) for k, v in times.items()}
        for k, v in times.items():
            print(f"{what:4s} {k:5s} {codes[k]}: median {med[k]:.2f} s, min {low[k]:.2f} s "
                  f"(runs {', '.join(f'{t[i]:.2f}' for t in v)})")
        print(f"{what:4s} this / other: median {med['this'] / med['other']:.3f}, "
              f"min {low['this'] / low['other']:.3f}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5, sys.argv[4:])
