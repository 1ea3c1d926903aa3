"""The image-hashing thread's settings, A/B in one process (run by hand; prints ratios).

    python3 benchmarks/bench_hashing.py big200m.pcap [ROUNDS]

The decoder hands image bytes to a thread that hashes them (glancetrace/hashing.py).  This times
the whole pass (`Pipeline.run`) alternating, in the same process: the GIL switch interval a pass sets
(0.5 ms) against Python's default (5 ms), each with the hashing batch of 1 MiB (shipped) and of 4 MiB, and the
pass with hashing switched off (the decoder alone).
"""

from __future__ import annotations

import statistics
import sys
import time

from glancetrace import hashing
from glancetrace.pipeline import Options, Pipeline
from glancetrace.protocols.http import body, digests

REAL_DIGESTS = body.StreamDigests
REAL_INTERVAL = hashing.SWITCH_INTERVAL


class _NoHashing:
    def __init__(self, hashing) -> None:
        pass

    def update(self, data) -> None:
        pass

    def hexdigests(self):
        return None, None, None


def setup(switch: str, batch_mib: int, hashing: bool) -> None:
    hashing.SWITCH_INTERVAL = REAL_INTERVAL if switch == "0.5 ms" else 0.005
    digests.BATCH = hashing.BATCH = batch_mib << 20
    hashing.MAX_IN_FLIGHT = 16 * digests.BATCH  # each pass makes its thread and queue bound anew
    body.StreamDigests = REAL_DIGESTS if hashing else _NoHashing


def main(path: str, rounds: int) -> None:
    variants = [("0.5 ms", 1, True), ("5 ms", 1, True), ("0.5 ms", 4, True), ("5 ms", 4, True),
                ("0.5 ms", 1, False)]
    times: dict[tuple, list[float]] = {v: [] for v in variants}
    for _ in range(rounds):
        for v in variants:
            setup(*v)
            t = time.perf_counter()
            Pipeline(Options()).run([path])
            times[v].append(time.perf_counter() - t)
    base = statistics.median(times[variants[0]])
    for (switch, batch, hashing), ts in times.items():
        what = f"switch {switch}, batch {batch} MiB" if hashing else "hashing off (decoder alone)"
        med = statistics.median(ts)
        print(f"{what:32s} median {med:.2f} s (runs {', '.join(f'{t:.2f}' for t in ts)}); "
              f"{med / base:.2f}x the shipped settings")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3)
