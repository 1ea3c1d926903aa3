"""Which API call caused each SQL statement.

A service's database work for one request happens on one pooled connection
between the pool's checkout and its ROLLBACK/COMMIT at check-in, so
statements are first grouped per connection into such units.  A unit is
then matched to a call of the same service whose request-start to
response-end window contains it: the image id decides where several calls
are open at once (concurrent uploads); otherwise the call that started last
before the unit wins (pandas `merge_asof`).  Units that fit no call stay as
the service's background work (call None) — never dropped.
"""

from __future__ import annotations

import pandas as pd

TXN_END = {"COMMIT", "ROLLBACK"}


def unit_ids(sql: pd.DataFrame) -> pd.Series:
    """Number the units: per connection, a unit ends with COMMIT or ROLLBACK."""
    ends = sql["operation"].isin(TXN_END)
    # a unit id changes on the statement after an end marker, within each connection
    after_end = ends.groupby(sql["conn_key"]).shift(1, fill_value=False)
    seq = after_end.astype(int).groupby(sql["conn_key"]).cumsum()
    return sql["conn_key"].astype(str) + "/" + seq.astype(str)


def assign(calls: pd.DataFrame, sql: pd.DataFrame) -> list[str | None]:
    """call_id (or None) for every row of `sql`.

    calls: call_id, service, start, end (NaN = open until capture end), image_id
    sql:   conn_key, time, service, image_id, operation   (index preserved)
    """
    if sql.empty:
        return []
    sql = sql.copy()
    sql["unit"] = unit_ids(sql)
    units = sql.groupby("unit").agg(
        t0=("time", "min"), t1=("time", "max"), service=("service", "first"),
        image_id=("image_id", lambda s: next((x for x in s if isinstance(x, str)), None)))
    units = units.reset_index()
    result = pd.Series(None, index=units["unit"], dtype=object)
    if not calls.empty:
        cl = calls.copy()
        cl["end"] = cl["end"].fillna(float("inf"))
        # 1. the image id decides: a call about the same image, open when the unit ran
        with_img = units.dropna(subset=["image_id"])
        if not with_img.empty:
            m = with_img.merge(cl.dropna(subset=["image_id"]), on=["service", "image_id"], how="inner")
            m = m[(m["start"] <= m["t0"]) & (m["t0"] <= m["end"])]
            if not m.empty:
                best = m.sort_values("start").groupby("unit").tail(1)
                result.loc[best["unit"].values] = best["call_id"].values
        # 2. otherwise the call of that service that started last before the unit and is still open
        todo = units[result.loc[units["unit"]].isna().values].sort_values("t0")
        if not todo.empty:
            asof = pd.merge_asof(todo, cl.sort_values("start"), left_on="t0", right_on="start",
                                 by="service", direction="backward", suffixes=("", "_call"))
            ok = asof["call_id"].notna() & (asof["t0"] <= asof["end"])
            result.loc[asof.loc[ok, "unit"].values] = asof.loc[ok, "call_id"].values
            # 3. the last-started call had already ended: any earlier call still open (interval match)
            rest = asof.loc[~ok, ["unit", "t0", "service"]]
            if not rest.empty:
                m = rest.merge(cl, on="service", how="inner")
                m = m[(m["start"] <= m["t0"]) & (m["t0"] <= m["end"])]
                if not m.empty:
                    best = m.sort_values("start").groupby("unit").tail(1)
                    result.loc[best["unit"].values] = best["call_id"].values
    return [c if isinstance(c, str) else None for c in sql["unit"].map(result)]
