"""The image-hashing thread's settings, A/B in one process (run by hand; prints ratios).

    python3 benchmarks/bench_hashing.py big200m.pcap [ROUNDS]

The decoder hands image bytes to a thread that hashes them (protocols/http/digests.py).  This times
the whole pass (`Pipeline.run`) alternating, in the same process: the GIL switch interval a pass sets
(0.5 ms) against Python's default (5 ms), each with the hashing batch of 1 MiB (shipped) and of 4 MiB, and the
pass with hashing switched off (the decoder alone).
"""

from __future__ import annotations

import statistics
import sys
import time
from contextlib import nullcontext

from glancetrace.pipeline import Options, Pipeline
from glancetrace.protocols.http import body, digests

REAL_GIL = digests.responsive_gil
REAL_DIGESTS = body.StreamDigests


class _NoHashing:
    def update(self, data) -> None:
        pass

    def hexdigests(self):
        return None, None, None


def setup(switch: str, batch_mib: int, hashing: bool) -> None:
    digests.responsive_gil = REAL_GIL if switch == "0.5 ms" else (lambda *a, **k: nullcontext())
    digests.BATCH = batch_mib << 20
    digests.MAX_IN_FLIGHT = 16 * digests.BATCH
    digests._pool = None  # a new thread and queue bound for the new sizes
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
