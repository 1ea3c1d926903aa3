"""What the one redaction step (openstack/redact_output.py) costs, against building the output it redacts.

    python3 benchmarks/bench_redaction.py FILE [FILE ...] [--rounds N]

For each capture, one decoding pass and one analysis, then in alternating rounds (median of N, CPU seconds of
this process, so other load on the machine counts less):
  - the analysis document (`report`'s JSON and HTML, `images`) built with --show-secrets and without,
  - the rows of `http` and of `sql`, with and without,
  - the SQL digest, with and without,
and the ratios without/with; also the tracemalloc peak of building the document both ways.
"""

from __future__ import annotations

import statistics
import sys
import time
import tracemalloc

from glancetrace.analysis.analyze import AnalysisOptions, analyze
from glancetrace.analysis.sql_digest import digest
from glancetrace.pipeline import Options, Pipeline
from glancetrace.protocols.http.events import HttpTransaction
from glancetrace.protocols.mysql.events import SqlStatement
from glancetrace.report.tables import http_rows, sql_rows


def cpu(f) -> float:
    t = time.process_time()
    f()
    return time.process_time() - t


def peak_mib(f) -> float:
    tracemalloc.start()
    f()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main(files: list[str], rounds: int) -> None:
    print("| capture | calls / statements | output | shown (CPU s) | redacted (CPU s) | ratio |")
    print("|---|---|---|---|---|---|")
    for path in files:
        res = Pipeline(Options()).run([path])
        an = analyze(res, AnalysisOptions())
        txs, stmts = res.of_type(HttpTransaction), res.of_type(SqlStatement)

        def document(show: bool):
            an.options.show_secrets = show  # the same analysis: only the output step differs
            return an.to_dict()

        cases = {
            "document": (lambda: document(True), lambda: document(False)),
            "http rows": (lambda: http_rows(txs, True), lambda: http_rows(txs)),
            "sql rows": (lambda: sql_rows(stmts, True), lambda: sql_rows(stmts)),
            "sql digest": (lambda: digest(stmts, show_secrets=True), lambda: digest(stmts)),
        }
        for name, (with_secrets, redacted) in cases.items():
            a, b = [], []
            for _ in range(rounds):
                a.append(cpu(with_secrets))
                b.append(cpu(redacted))
            ma, mb = statistics.median(a), statistics.median(b)
            print(f"| {path.rsplit('/', 1)[-1]} | {len(an.calls)} / {len(an.sql)} | {name} | {ma:.3f} | "
                  f"{mb:.3f} | {mb / ma:.2f} |")
        print(f"| {path.rsplit('/', 1)[-1]} | | document, tracemalloc peak MiB | {peak_mib(lambda: document(True)):.1f}"
              f" | {peak_mib(lambda: document(False)):.1f} | |")


if __name__ == "__main__":
    args = sys.argv[1:]
    n = 3
    if "--rounds" in args:
        i = args.index("--rounds")
        n = int(args[i + 1])
        del args[i: i + 2]
    main(args, n)
