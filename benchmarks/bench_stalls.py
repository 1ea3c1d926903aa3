"""What tcp/stalls.py (zero windows, retransmissions, FIN/RST per connection) costs the pass: the pipeline
with it and with a stand-in that only forwards to the reassembler, each in a fresh child (own peak RSS),
alternating, two rounds.

    python3 benchmarks/bench_stalls.py CAPTURE [...]

With `--base DIR` (a checkout of an older glancetrace, e.g. `git archive COMMIT glancetrace | tar -x -C DIR`)
it compares the pass of that checkout with this one's instead, both with the observer, alternating, three
rounds, wall and CPU time (what tcp/window_full.py added: the window-full tracker and the bare ACKs it needs).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]

RUN = """
import sys, resource
import glancetrace.pipeline as p
if sys.argv[2] == "without":
    class Forward:
        def __init__(self, tcp, capture, make):
            self.add = tcp.add
        def finish(self):
            return []
    p.TcpStalls = Forward
res = p.decode(sys.argv[1])
ru = resource.getrusage(resource.RUSAGE_SELF)
print(len(res.events), ru.ru_maxrss, ru.ru_utime + ru.ru_stime)
"""


def once(path: str, mode: str, root: pathlib.Path = ROOT) -> tuple[float, int, float]:
    """(wall s, peak RSS MiB, CPU s) of one pass in a fresh child importing glancetrace from `root`."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", RUN, path, mode], cwd=root, capture_output=True, text=True,
                         check=True).stdout.split()
    return time.perf_counter() - t, int(out[1]) // 1024, float(out[2])


def against(base: pathlib.Path, paths: list[str], rounds: int = 3) -> None:
    print("| capture | base wall / CPU (s) | this wall / CPU (s) | CPU this / base (best) | CPU this / base (median) |")
    print("|---|---|---|---|---|")
    for path in paths:
        runs: dict[str, list] = {"base": [], "this": []}
        for _ in range(rounds):
            runs["base"].append(once(path, "with", base))
            runs["this"].append(once(path, "with"))
        b, t = (sorted(runs[k], key=lambda r: r[2]) for k in ("base", "this"))
        print(f"| {pathlib.Path(path).name} | {b[0][0]:.2f} / {b[0][2]:.2f} | {t[0][0]:.2f} / {t[0][2]:.2f} | "
              f"{t[0][2] / b[0][2]:.3f} | {t[rounds // 2][2] / b[rounds // 2][2]:.3f} |")
        print("  CPU s, base:", [round(r[2], 2) for r in runs["base"]], "this:", [round(r[2], 2) for r in runs["this"]])


def main() -> None:
    if sys.argv[1:2] == ["--base"]:
        against(pathlib.Path(sys.argv[2]).resolve(), sys.argv[3:])
        return
    print("| capture | without (s) | with (s) | with / without | peak RSS without / with (MiB) |")
    print("|---|---|---|---|---|")
    for path in sys.argv[1:]:
        runs = {"without": [], "with": []}
        for _ in range(2):
            for mode in ("without", "with"):
                runs[mode].append(once(path, mode))
        wo, w = min(r[0] for r in runs["without"]), min(r[0] for r in runs["with"])
        print(f"| {pathlib.Path(path).name} | {wo:.2f} | {w:.2f} | {w / wo:.2f} | "
              f"{max(r[1] for r in runs['without'])} / {max(r[1] for r in runs['with'])} |")


if __name__ == "__main__":
    main()
