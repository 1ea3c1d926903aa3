"""How fast a big HTML report opens in headless Chromium (run by hand; not a timed test).

    python3 benchmarks/bench_report_load.py [--calls 5000] [--sql 30000] [--images 40] [--runs 3]

Builds a synthetic analysis (tests/report/browser_data.py), renders it with
glancetrace.report.html.render_html, then opens the file from disk in Debian's
chromium with the network cut off and prints, per run and as the median: wall time
of page.goto(load), DOMContentLoaded, the report script's ready time, first
contentful paint (all ms from navigation start), and the time to open the HTTP
calls table and to filter all tables.  Goal: ready under 2,000 ms.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from glancetrace.report.html import render_html  # noqa: E402
from tests.report.browser_data import synthetic_analysis  # noqa: E402
from tests.support.browser import chromium, load_timings, offline_page  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--sql", type=int, default=30000)
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    t = time.perf_counter()
    analysis = synthetic_analysis(n_images=args.images, n_calls=args.calls, n_sql=args.sql)
    t_build = time.perf_counter() - t
    t = time.perf_counter()
    html = render_html(analysis)
    t_render = time.perf_counter() - t
    print(f"analysis: {args.images} images, {len(analysis['calls'])} calls, {len(analysis['sql'])} statements "
          f"(built in {t_build:.2f} s)")
    print(f"render_html: {t_render:.2f} s, {len(html.encode()) / 1e6:.1f} MB of HTML")

    rows = []
    with tempfile.TemporaryDirectory() as d, chromium() as browser:
        path = pathlib.Path(d) / "big.html"
        path.write_text(html, encoding="utf-8")
        for run in range(args.runs):
            t = time.perf_counter()
            with offline_page(browser, path) as page:
                wall = (time.perf_counter() - t) * 1000
                page.wait_for_selector('html[data-ready="1"]')
                tm = load_timings(page)
                t1 = time.perf_counter()
                page.click("#tbl-calls > summary")
                page.wait_for_selector("#tbl-calls table.data tbody tr.row")
                open_calls = (time.perf_counter() - t1) * 1000
                filt = page.evaluate("() => { const t = performance.now(); window.glancetrace.filter('image-upload');"
                                     " return performance.now() - t; }")
                assert not page.requests and not page.errors, (page.requests, page.errors)
            row = {"goto_wall": wall, **tm, "open_calls_table": open_calls, "filter_all": filt}
            rows.append(row)
            print(f"run {run + 1}: " + ", ".join(f"{k} {v:.0f} ms" for k, v in row.items() if v is not None))
    med = {k: statistics.median(r[k] for r in rows if r.get(k) is not None) for k in rows[0]}
    print("median: " + ", ".join(f"{k} {v:.0f} ms" for k, v in med.items()))
    verdict = "OK" if med["ready"] < 2000 else "TOO SLOW"
    print(f"report ready after {med['ready']:.0f} ms (goal < 2000 ms): {verdict}")


if __name__ == "__main__":
    main()
