"""What tcp/stalls.py (zero windows, retransmissions, FIN/RST per connection) costs the pass: the pipeline
with it and with a stand-in that only forwards to the reassembler, each in a fresh child (own peak RSS),
alternating, two rounds.

    python3 benchmarks/bench_stalls.py CAPTURE [...]
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
print(len(res.events), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def once(path: str, mode: str) -> tuple[float, int]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", RUN, path, mode], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    return time.perf_counter() - t, int(out[1]) // 1024


def main() -> None:
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
