"""Cost of pairing proxied MySQL hops (analysis/mysql_hops.py) against the whole analysis.

    python3 benchmarks/bench_mysql_hops.py [SCENARIO]    (default: failures, the rig's 21,375 statements)

The rig capture's MySQL connections go straight to MariaDB.  To see a database VIP at that scale, each
connection is also given a back hop as haproxy would make it: a copy on another connection from the proxy's
address, each statement arriving 0.1 ms later and answered 0.05 ms sooner, the greeting (thread id)
relayed.  Prints the analysis time without and with the back hops, the time pairing takes in each, and
checks that the statements listed and the digest are those of the capture alone.
"""

from __future__ import annotations

import copy
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from glancetrace import pipeline  # noqa: E402
from glancetrace.analysis import mysql_hops  # noqa: E402
from glancetrace.analysis.analyze import analyze  # noqa: E402
from glancetrace.protocols.mysql import MysqlHandshake, SqlStatement  # noqa: E402
from tests.support.rig import capture  # noqa: E402

PROXY_SOURCE, BACK_SERVER = "172.16.0.10", "172.16.0.20:3306"


def with_back_hops(res):
    """The pass as a controller behind a VIP would have captured it: every MySQL connection twice."""
    out = copy.copy(res)
    out.events = list(res.events)
    base = 1 + max(c.stream for c in res.connections)
    for ev in res.events:
        if isinstance(ev, (SqlStatement, MysqlHandshake)):
            back = copy.copy(ev)
            back.conn_id = base + ev.conn_id
            back.client, back.server = f"{PROXY_SOURCE}:{40000 + ev.conn_id % 20000}", BACK_SERVER
            if isinstance(ev, SqlStatement):
                back.request_time = ev.request_time + 0.0001
                if ev.response_time is not None:
                    back.response_time = max(back.request_time, ev.response_time - 0.00005)
                    back.latency = back.response_time - back.request_time
            out.events.append(back)
    return out


def timed(fn, *args):
    t = time.perf_counter()
    v = fn(*args)
    return v, time.perf_counter() - t


def pairing_time(res) -> float:
    items = [(ev.capture, ev) for ev in res.events if isinstance(ev, (SqlStatement, MysqlHandshake))]
    return timed(mysql_hops.pair_hops, items, res.connections, res.conn_captures)[1]


def main() -> None:
    scenario = sys.argv[1] if len(sys.argv) > 1 else "failures"
    res = pipeline.decode(capture(scenario))
    doubled = with_back_hops(res)
    plain, t_plain = timed(analyze, res)
    vip, t_vip = timed(analyze, doubled)
    n_all = sum(isinstance(e, SqlStatement) for e in doubled.events)
    print(f"{scenario}: {len(plain.sql):,} statements; with back hops {n_all:,} decoded, {len(vip.sql):,} listed, "
          f"{len(vip.mysql_hops.pairs):,} pairs")
    assert [r.stmt.sql for r in vip.sql] == [r.stmt.sql for r in plain.sql]
    d1, d2 = plain.to_dict()["sql_digest"], vip.to_dict()["sql_digest"]
    assert sorted((d["fingerprint"], d["count"]) for d in d1) == sorted((d["fingerprint"], d["count"]) for d in d2)
    p_plain, p_vip = pairing_time(res), pairing_time(doubled)
    print(f"analysis: {t_plain:.2f} s direct, {t_vip:.2f} s with back hops (ratio {t_vip / t_plain:.2f})")
    print(f"pairing: {p_plain:.3f} s direct ({p_plain / t_plain:.1%} of the analysis), "
          f"{p_vip:.3f} s with back hops ({p_vip / t_vip:.1%})")


if __name__ == "__main__":
    main()
