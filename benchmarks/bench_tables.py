"""The writers of `glancetrace sql` / `http` on one decoded capture: terminal table vs CSV vs JSON.

    python3 benchmarks/bench_tables.py FILE [--rich]

Decodes FILE once, then writes every statement and every transaction as each format would (to
/dev/null, a terminal 80 columns wide for the tables) and prints seconds and the ratio to CSV.
--rich also times the rich Table the listings replaced (slow: minutes on big captures).
"""

from __future__ import annotations

import sys
import time

from rich import box
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))

from glancetrace.pipeline import decode  # noqa: E402
from glancetrace.protocols.http import HttpTransaction  # noqa: E402
from glancetrace.protocols.mysql import SqlStatement  # noqa: E402
from glancetrace.report import tables, terminal  # noqa: E402


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def rich_sql_table(rows, console):
    """What `sql` printed before report/listing.py: one rich Table of every statement."""
    t = Table(box=box.SIMPLE_HEAD)
    for name in ("time (UTC)", "tcp", "statement", "result", "ms", "frames"):
        t.add_column(name, overflow="fold", ratio=3 if name == "statement" else None)
    for r in rows:
        t.add_row(terminal.utc(r["request_time"]), str(r["conn_id"]), (r["sql"] or "")[:100], str(r["result"]),
                  terminal.ms(r["latency"]), terminal.frames(r["request_frames"]))
    console.print(t)


def main() -> None:
    path = sys.argv[1]
    t0 = time.perf_counter()
    res = decode(path)
    print(f"{path}: decoded in {time.perf_counter() - t0:.1f} s")
    with open("/dev/null", "w") as null:
        console = Console(file=null, width=80, color_system=None)
        for name, rows, table in (("sql", tables.sql_rows(res.of_type(SqlStatement)), terminal.sql_table),
                                  ("http", tables.http_rows(res.of_type(HttpTransaction)), terminal.http_table)):
            csv_s = timed(lambda: tables.write_csv(rows, null))
            json_s = timed(lambda: tables.write_json(rows, null))
            table_s = timed(lambda: table(rows, console))
            print(f"{name}: {len(rows):,} rows  csv {csv_s:.2f} s  json {json_s:.2f} s ({json_s / csv_s:.2f})  "
                  f"table {table_s:.2f} s ({table_s / csv_s:.2f} of csv)")
            if name == "sql" and "--rich" in sys.argv:
                rich_s = timed(lambda: rich_sql_table(rows, console))
                print(f"sql: rich Table {rich_s:.1f} s ({rich_s / csv_s:.1f} of csv)")


if __name__ == "__main__":
    main()
