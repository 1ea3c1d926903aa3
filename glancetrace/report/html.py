"""The self-contained HTML report: one file, no network, opens fast on big captures.

`render_html(analysis)` takes the analysis layer's JSON-able dict and returns the page.
What is small and read first (header, findings, one SVG timeline per image) is
rendered here with jinja2 (autoescape on: every string came out of a packet).
The big tables (calls, SQL statements, digest, tokens, TLS sessions) travel as one
embedded JSON block that the page's vanilla JS turns into rows lazily, so a capture
with thousands of calls still opens in well under two seconds.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

import jinja2
from markupsafe import Markup

TEMPLATES = Path(__file__).resolve().parent / "templates"

SEVERITY_RANK = {"critical": 0, "error": 1, "warning": 2, "info": 3}

# Timeline geometry, in SVG user units (the SVG scales to the page width).
TL_WIDTH = 1200
TL_GUTTER = 150  # lane labels
TL_RIGHT = 16
TL_AXIS = 26
TL_STATUS_H = 26
TL_ROW_H = 16
TL_ROW_GAP = 4
TL_LANE_PAD = 6
TL_SQL_H = 34
TL_MAX_ROWS = 8  # stacked rows per lane before bars are allowed to overlap

LANES = [
    ("keystone", "client → Keystone"),
    ("glance", "client → Glance API"),
    ("swift", "Glance → Swift"),
    ("other", "other HTTP"),
]


# --------------------------------------------------------------------------- defensive readers

def _dict(x) -> dict:
    return x if isinstance(x, dict) else {}


def _list(x) -> list:
    return list(x) if isinstance(x, (list, tuple)) else []


def _num(x) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def _str(x) -> str:
    return "" if x is None else str(x)


# --------------------------------------------------------------------------- formatting (also jinja filters)

def fmt_utc(ts, with_date: bool = True) -> str:
    t = _num(ts)
    if t is None:
        return "–"
    try:
        d = datetime.fromtimestamp(t, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "–"
    s = d.strftime("%Y-%m-%d %H:%M:%S." if with_date else "%H:%M:%S.") + f"{d.microsecond // 1000:03d}"
    return s + "Z" if with_date else s


def fmt_offset(ts, t0) -> str:
    t, z = _num(ts), _num(t0)
    if t is None or z is None:
        return ""
    return f"+{t - z:.3f} s" if t >= z else f"−{z - t:.3f} s"


def fmt_duration(seconds) -> str:
    s = _num(seconds)
    if s is None:
        return "–"
    if abs(s) < 1:
        return f"{s * 1000:.1f} ms"
    if abs(s) < 120:
        return f"{s:.3f} s"
    return f"{int(s // 60)} min {s % 60:.1f} s"


def fmt_bytes(n) -> str:
    v = _num(n)
    if v is None:
        return "–"
    if v < 1024:
        return f"{int(v)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        v /= 1024
        if v < 1024 or unit == "TiB":
            return f"{v:.1f} {unit}"
    return f"{v:.1f} TiB"  # pragma: no cover


def fmt_int(n) -> str:
    v = _num(n)
    return "–" if v is None else f"{int(v):,}"


# --------------------------------------------------------------------------- JSON embedding

def _clean(x):
    """Make anything JSON.parse can read: NaN/inf → null, unknown objects → str."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return str(x)


def script_json(obj) -> str:
    """JSON safe inside <script>: no `</script>`, `<!--`, `]]>`, nor JS line separators."""
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)
    except ValueError:  # NaN or inf somewhere
        text = json.dumps(_clean(obj), ensure_ascii=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _compact(key, value):
    """Fewer bytes for the big tables: frames as [req first, req last, resp first, resp last]
    (report.js rebuilds the object), latencies to the microsecond."""
    if key == "frames" and isinstance(value, dict):
        req, resp = _list(value.get("request")), _list(value.get("response"))
        return [req[0] if req else None, req[-1] if req else None, resp[0] if resp else None,
                resp[-1] if resp else None]
    if key == "latency" and isinstance(value, float) and math.isfinite(value):
        return round(value, 6)
    return value


def columns(rows: list[dict], derived: tuple[str, ...] = ()) -> dict:
    """Rows of dicts as {"cols": keys, "rows": [[values]], "dict": {col: [values]}}.

    The keys travel once, not 30,000 times; a column of few distinct strings (SQL text: 21,375
    statements, 190 texts in a real capture; endpoints; commands) travels as indices into its
    list of values.  `derived` columns are left out: the page recomputes them (report.js).
    """
    keys: dict = {}
    for r in rows:
        for k in r:
            if k not in derived:
                keys.setdefault(k, None)
    cols = list(keys)
    table = [[_compact(k, r.get(k)) for k in cols] for r in rows]
    dicts: dict[str, list] = {}
    if len(table) > 50:
        for j, col in enumerate(cols):
            values = [row[j] for row in table]
            if not all(v is None or isinstance(v, str) for v in values):
                continue
            distinct = list(dict.fromkeys(v for v in values if v is not None))
            if len(distinct) * 2 > len(values):
                continue
            index = {v: i for i, v in enumerate(distinct)}
            for row in table:
                if row[j] is not None:
                    row[j] = index[row[j]]
            dicts[str(col)] = distinct
    return {"cols": [str(k) for k in cols], "rows": table, "dict": dicts}


# --------------------------------------------------------------------------- view model

def _first_ts(analysis: dict) -> float | None:
    s = _dict(analysis.get("summary"))
    t = _num(s.get("first_ts"))
    if t is not None:
        return t
    cands = [_num(_dict(c).get("first_ts")) for c in _list(analysis.get("captures"))]
    cands += [_num(_dict(c).get("request_time")) for c in _list(analysis.get("calls"))]
    cands = [c for c in cands if c is not None]
    return min(cands) if cands else None


def _severity_key(f: dict):
    return (SEVERITY_RANK.get(_str(f.get("severity")).lower(), 9), _str(f.get("code")))


def _status_class(status) -> str:
    s = _num(status)
    if s is None:
        return "none"
    if s >= 500:
        return "s5"
    if s >= 400:
        return "s4"
    if s >= 300:
        return "s3"
    return "s2"


def _state_class(status: str) -> str:
    s = status.lower()
    known = {"queued", "saving", "active", "killed", "deleted", "pending_delete", "deactivated",
             "uploading", "importing"}
    return "st-" + s if s in known else "st-other"


def _nice_step(span: float, target: int = 8) -> float:
    raw = span / max(target, 1)
    if raw <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


class _Scale:
    def __init__(self, t_start: float, t_end: float):
        if t_end <= t_start:
            t_end = t_start + 1.0
        self.t0, self.t1 = t_start, t_end
        self.k = (TL_WIDTH - TL_GUTTER - TL_RIGHT) / (t_end - t_start)

    def x(self, t: float) -> float:
        return round(TL_GUTTER + (t - self.t0) * self.k, 1)


def _call_end(c: dict) -> float | None:
    for k in ("response_end", "response_time", "request_end", "request_time"):
        v = _num(c.get(k))
        if v is not None:
            return v
    return None


def _pack_rows(items: list[tuple[float, float, object]]) -> list[tuple[int, object]]:
    """Greedy interval packing: each bar gets the first row free at its start."""
    rows_end: list[float] = []
    out = []
    for start, end, payload in sorted(items, key=lambda i: (i[0], i[1])):
        for r, e in enumerate(rows_end):
            if e <= start:
                rows_end[r] = end
                out.append((r, payload))
                break
        else:
            if len(rows_end) < TL_MAX_ROWS:
                rows_end.append(end)
                out.append((len(rows_end) - 1, payload))
            else:  # too crowded: overlap in the row that frees up first
                r = min(range(len(rows_end)), key=rows_end.__getitem__)
                rows_end[r] = max(rows_end[r], end)
                out.append((r, payload))
    return out


def _timeline(image: dict, calls_by_id: dict, call_index: dict, sql_by_id: dict, sql_index: dict,
              calls_of_image: dict, sql_of_image: dict, keystone_calls: list, t_first: float | None) -> dict | None:
    img_id = _str(image.get("id"))
    my_calls = [calls_by_id[c] for c in map(_str, _list(image.get("calls"))) if c in calls_by_id]
    seen = {id(c) for c in my_calls}
    for c in calls_of_image.get(img_id, ()):  # calls that name the image but were not listed on it
        if id(c) not in seen:
            my_calls.append(c)
            seen.add(id(c))
    my_sql = []
    sql_seen = set()
    for c in my_calls:
        for s in map(_str, _list(c.get("sql"))):
            if s in sql_by_id and s not in sql_seen:
                sql_seen.add(s)
                my_sql.append(sql_by_id[s])
    for s in sql_of_image.get(img_id, ()):
        sid = _str(s.get("id"))
        if sid not in sql_seen:
            sql_seen.add(sid)
            my_sql.append(s)

    transitions = [_dict(t) for t in _list(image.get("transitions"))]
    states = [_dict(s) for s in _list(image.get("states"))]
    times = []
    for c in my_calls:
        times += [t for t in (_num(c.get("request_time")), _call_end(c)) if t is not None]
    for s in my_sql:
        times += [t for t in (_num(s.get("request_time")), _num(s.get("response_time"))) if t is not None]
    times += [t for t in (_num(x.get("time")) for x in transitions) if t is not None]
    times += [t for s in states for t in (_num(s.get("start")), _num(s.get("end"))) if t is not None]
    if not times:
        return None
    lo, hi = min(times), max(times)
    # Keystone calls just before or during the image's activity (its token) belong on its timeline.
    margin = max((hi - lo) * 0.1, 1.0)
    for c in keystone_calls:
        if id(c) in seen:
            continue
        a, b = _num(c.get("request_time")), _call_end(c)
        if a is None or b is None:
            continue
        if b >= lo - margin and a <= hi:
            my_calls.append(c)
            seen.add(id(c))
            lo = min(lo, a)
    pad = max((hi - lo) * 0.02, 0.005)

    def draw(sc: _Scale) -> dict:
        """The geometry of one view of the timeline over sc's time window (what lies outside is left out)."""
        # axis
        span = sc.t1 - sc.t0
        step = _nice_step(span)
        base = t_first if t_first is not None else sc.t0
        first_tick = math.ceil((sc.t0 - base) / step) * step + base
        axis = []
        t = first_tick
        decimals = max(0, -int(math.floor(math.log10(step)))) if step < 1 else 0
        while t <= sc.t1 + 1e-9 and len(axis) < 40:
            axis.append({"x": sc.x(t), "label": f"+{t - base:.{decimals}f}s" if t >= base else f"{t - base:.{decimals}f}s"})
            t += step

        y = TL_AXIS
        lanes = []
        # status lane: state bands + transition markers
        bands = []
        for s in states:
            a = _num(s.get("start"))
            if a is None:
                continue
            b = _num(s.get("end"))
            open_end = b is None
            b = sc.t1 if open_end else b
            if b < sc.t0 or a > sc.t1:
                continue
            x1, x2 = sc.x(max(a, sc.t0)), sc.x(min(b, sc.t1))
            status = _str(s.get("status")) or "?"
            w = max(x2 - x1, 1.5)
            bands.append({"x": x1, "w": round(w, 2), "status": status, "cls": _state_class(status),
                          "open": open_end, "label": status if w > len(status) * 6.5 + 8 else "",
                          "title": f"{status}: {fmt_utc(a)} → {'capture end' if open_end else fmt_utc(b)}"
                                   f" ({fmt_duration(_num(s.get('seconds')) if _num(s.get('seconds')) is not None else (None if open_end else b - a))})"})
        lanes.append({"label": "image status", "y": y, "h": TL_STATUS_H, "kind": "status"})
        status_y = y
        y += TL_STATUS_H + TL_LANE_PAD

        bars = []
        for service, label in LANES:
            group = [c for c in my_calls if (_str(c.get("service")) if _str(c.get("service")) in
                                             ("keystone", "glance", "swift") else "other") == service]
            if not group and service in ("swift", "other"):
                continue
            items = []
            for c in group:
                a = _num(c.get("request_time"))
                if a is None:
                    continue
                b = _call_end(c) or a
                if b < sc.t0 or a > sc.t1:
                    continue
                items.append((a, max(b, a + 1 / sc.k), c))  # at least one unit wide for packing
            packed = _pack_rows(items)
            nrows = max([r for r, _ in packed], default=0) + 1
            h = nrows * (TL_ROW_H + TL_ROW_GAP) + TL_ROW_GAP
            lanes.append({"label": label, "y": y, "h": h, "kind": service})
            for r, c in packed:
                a = _num(c.get("request_time"))
                b = _call_end(c) or a
                x1 = sc.x(max(a, sc.t0))
                w = max(sc.x(min(b, sc.t1)) - x1, 2.0)
                text = _str(c.get("kind")) or _str(c.get("method"))
                st = c.get("status")
                if st is not None:
                    text = f"{text} {st}"
                idx = call_index.get(id(c))
                flags = []
                if c.get("incomplete"):
                    flags.append("incomplete")
                if c.get("gap"):
                    flags.append("gap in capture")
                if c.get("encrypted_only"):
                    flags.append("encrypted, not decrypted")
                request_line = f"{_str(c.get('method'))} {_str(c.get('uri'))[:160]}"
                title = "\n".join(filter(None, [
                    _str(c.get("summary"))[:160],
                    request_line,
                    f"status {_str(st) or '–'} {_str(c.get('reason'))}".rstrip(),
                    f"{fmt_utc(a)} ({fmt_offset(a, t_first)}) latency {fmt_duration(c.get('latency'))}",
                    f"{len(_list(c.get('sql')))} SQL statements" if _list(c.get("sql")) else "",
                    ", ".join(flags),
                ]))
                bars.append({"x": x1, "y": y + TL_ROW_GAP + r * (TL_ROW_H + TL_ROW_GAP), "w": round(w, 2),
                             "h": TL_ROW_H, "cls": _status_class(st) + (" incomplete" if c.get("incomplete") else ""),
                             "label": text if w > len(text) * 6.2 + 6 else "", "title": title,
                             "idx": idx, "id": _str(c.get("id"))})
            y += h + TL_LANE_PAD

        # MySQL lane: one tick per statement, merged per pixel so 30,000 statements stay light.
        lanes.append({"label": "Glance → MySQL", "y": y, "h": TL_SQL_H, "kind": "mysql"})
        buckets: dict = {}
        for s in my_sql:
            a = _num(s.get("request_time"))
            if a is None or a < sc.t0 or a > sc.t1:
                continue
            kind = ("status" if s.get("status_change") else
                    "error" if s.get("error_code") or s.get("error_message") else "q")
            key = (round(sc.x(a)), kind)
            buckets.setdefault(key, []).append(s)
        ticks = []
        for (px, kind), group in sorted(buckets.items()):
            s0 = group[0]
            lines = []
            for s in group[:3]:  # the drawer has the rest: keep 30,000 statements' worth of SVG small
                sc_ = _dict(s.get("status_change"))
                chg = f" [status → {_str(sc_.get('to'))}]" if sc_ else ""
                err = f" ERROR {_str(s.get('error_code'))} {_str(s.get('error_message'))[:80]}" if kind == "error" else ""
                text = _str(s.get("sql")) or _str(s.get("command"))
                lines.append(f"{_str(s.get('id'))}: {text[:90]}{'…' if len(text) > 90 else ''}{chg}{err}"
                             f" ({fmt_duration(s.get('latency'))})")
            if len(group) > 3:
                lines.append(f"… and {len(group) - 3} more")
            call_id = _str(s0.get("call_id"))
            cidx = call_index.get(id(calls_by_id[call_id])) if call_id in calls_by_id else None
            full = kind in ("status", "error")
            ticks.append({"x": px, "y": y + (3 if full else 10), "h": TL_SQL_H - (6 if full else 20), "cls": kind,
                          "title": f"{fmt_utc(_num(s0.get('request_time')))} ({fmt_offset(_num(s0.get('request_time')), t_first)})"
                                   f" — {len(group)} statement{'s' if len(group) > 1 else ''}\n" + "\n".join(lines),
                          "sql": " ".join(_str(s.get("id")) for s in group),
                          "sql_idx": sql_index.get(_str(s0.get("id"))), "call_idx": cidx})
        y += TL_SQL_H + TL_LANE_PAD

        markers = []
        for tr in transitions:
            a = _num(tr.get("time"))
            if a is None or a < sc.t0 or a > sc.t1:
                continue
            failed = bool(tr.get("failed"))
            status = _str(tr.get("status"))
            prev = tr.get("previous")
            markers.append({"x": sc.x(a), "failed": failed, "status": status,
                            "title": f"{_str(prev) + ' → ' if prev else ''}{status}{' (FAILED)' if failed else ''}"
                                     f" via {_str(tr.get('source')) or '?'} at {fmt_utc(a)} ({fmt_offset(a, t_first)})"})
        return {"width": TL_WIDTH, "height": y + 2, "gutter": TL_GUTTER, "plot_right": TL_WIDTH - TL_RIGHT,
                "lanes": lanes, "bands": bands, "bars": bars, "ticks": ticks, "markers": markers, "axis": axis,
                "status_y": status_y, "status_h": TL_STATUS_H, "axis_y": TL_AXIS,
                "start": sc.t0, "end": sc.t1, "n_calls": len(my_calls), "n_sql": len(my_sql)}

    full = draw(_Scale(lo - pad, hi + pad))
    full["zoom"] = None
    # A lifecycle of a few ms inside minutes of calls would be a sliver: draw it again, zoomed.
    f_times = [t for t in (_num(x.get("time")) for x in transitions) if t is not None]
    if f_times:
        f_lo, f_hi = min(f_times), max(f_times)
        f_pad = max((f_hi - f_lo) * 0.25, 0.02)
        if (f_hi - f_lo) + 2 * f_pad < 0.25 * (hi - lo):
            full["zoom"] = {**draw(_Scale(f_lo - f_pad, f_hi + f_pad)), "is_zoom": True}
    return full


class _CallLabels(dict):
    """call id → short human label ("PUT /v2/images/…/file → 500"), made on demand."""

    def __init__(self, calls_by_id: dict):
        super().__init__()
        self._calls = calls_by_id

    def __missing__(self, cid):
        c = self._calls.get(cid)
        if c is None:
            return f"call {cid}"
        uri = _str(c.get("uri"))
        if len(uri) > 70:
            uri = uri[:67] + "…"
        st = c.get("status")
        label = f"{_str(c.get('method'))} {uri} → {_str(st) if st is not None else 'no response'}"
        self[cid] = label
        return label


def build_view(analysis: dict) -> dict:
    """Everything the templates need, read defensively from the analysis dict."""
    a = _dict(analysis)
    tool = _dict(a.get("tool"))
    summary = _dict(a.get("summary"))
    captures = [_dict(c) for c in _list(a.get("captures"))]
    images = [_dict(i) for i in _list(a.get("images"))]
    calls = [_dict(c) for c in _list(a.get("calls"))]
    sql = [_dict(s) for s in _list(a.get("sql"))]
    findings = [_dict(f) for f in _list(a.get("findings"))]
    tls = [_dict(t) for t in _list(a.get("tls_sessions"))]
    t0 = _first_ts(a)

    calls_by_id = {}
    call_index = {}  # id(dict) → position in the embedded calls array
    call_idx_by_id = {}
    for i, c in enumerate(calls):
        cid = _str(c.get("id"))
        calls_by_id.setdefault(cid, c)
        call_idx_by_id.setdefault(cid, i)
        call_index[id(c)] = i
    sql_by_id, sql_index = {}, {}
    for i, s in enumerate(sql):
        sid = _str(s.get("id"))
        sql_by_id.setdefault(sid, s)
        sql_index.setdefault(sid, i)
    calls_of_image: dict = {}
    for c in calls:
        if c.get("image_id"):
            calls_of_image.setdefault(_str(c.get("image_id")), []).append(c)
    sql_of_image: dict = {}
    for s in sql:
        if s.get("image_id"):
            sql_of_image.setdefault(_str(s.get("image_id")), []).append(s)
    keystone_calls = [c for c in calls if c.get("service") == "keystone"]
    image_anchor = {}
    for i, im in enumerate(images):
        image_anchor.setdefault(_str(im.get("id")), f"image-{i}")
    finding_sort = sorted(findings, key=_severity_key)

    image_views = []
    for i, im in enumerate(images):
        fids = set(map(_str, _list(im.get("findings"))))
        iid = _str(im.get("id"))
        trs = []
        for tr in _list(im.get("transitions")):
            tr = _dict(tr)
            trs.append({**tr, "call_idx": call_idx_by_id.get(_str(tr.get("call_id"))),
                        "sql_idx": sql_index.get(_str(tr.get("sql_id"))),
                        "frames": [f for f in _list(tr.get("frames"))]})
        image_views.append({
            "anchor": f"image-{i}", "raw": im, "transitions": trs,
            "findings": [f for f in finding_sort
                         if _str(f.get("id")) in fids or (iid and _str(f.get("image_id")) == iid)],
            "timeline": _timeline(im, calls_by_id, call_index, sql_by_id, sql_index,
                                  calls_of_image, sql_of_image, keystone_calls, t0),
            "open": i < 12,  # beyond a dozen images, timelines unfold on demand
        })

    sev_counts = {}
    for f in findings:
        k = _str(f.get("severity")).lower() or "info"
        sev_counts[k] = sev_counts.get(k, 0) + 1
    if isinstance(summary.get("findings_by_severity"), dict):
        sev_counts = {**sev_counts, **{_str(k): v for k, v in summary["findings_by_severity"].items()}}

    decrypted = [t for t in tls if t.get("decrypted")]
    not_decrypted = [t for t in tls if not t.get("decrypted")]
    warnings = [_str(w) for w in _list(summary.get("warnings"))]
    for c in captures:
        warnings += [f"{_str(c.get('path'))}: {_str(w)}" for w in _list(c.get("warnings"))]
    link_types = sorted({_str(lt) for c in captures
                         for lt in (_list(c.get("link_type_names")) or _list(c.get("link_types")))})

    data = {
        "t0": t0,
        "calls": columns(calls),
        # the page recomputes a statement's filter from its numbers, unless one spans pieces
        "sql": columns(sql, derived=() if any(len(_list(r.get("evidence"))) > 1 for r in sql) else ("wireshark_filter",)),
        "sql_digest": _list(a.get("sql_digest")),
        "tokens": _list(a.get("tokens")),
        "tls_sessions": tls,
        "findings": finding_sort,
        "images": [{"id": _str(im.get("id")), "name": _str(im.get("name")), "anchor": image_anchor[_str(im.get("id"))]}
                   for im in images],
    }
    first = _num(summary.get("first_ts"))
    last = _num(summary.get("last_ts"))
    if first is None:
        firsts = [t for t in (_num(c.get("first_ts")) for c in captures) if t is not None]
        first = min(firsts) if firsts else None
    if last is None:
        lasts = [t for t in (_num(c.get("last_ts")) for c in captures) if t is not None]
        last = max(lasts) if lasts else None
    return {
        "tool": tool, "summary": summary, "captures": captures, "t0": t0,
        "first_ts": first, "last_ts": last,
        "span": (last - first) if first is not None and last is not None else None,
        "link_types": link_types, "warnings": warnings,
        "skipped": _dict(summary.get("skipped")), "gaps": _dict(summary.get("gaps")),
        "findings": finding_sort,
        "image_name": {_str(im.get("id")): _str(im.get("name")) for im in images},
        "call_label": _CallLabels(calls_by_id),
        "sev_counts": sorted(((k, n) for k, n in sev_counts.items() if _num(n)),
                             key=lambda kv: (SEVERITY_RANK.get(kv[0], 9), kv[0])),
        "images": image_views, "image_anchor": image_anchor,
        "call_idx": call_idx_by_id, "sql_idx": sql_index,
        "tls_decrypted": decrypted, "tls_not_decrypted": not_decrypted,
        "counts": {"calls": len(calls), "sql": len(sql), "digest": len(data["sql_digest"]),
                   "tokens": len(data["tokens"]), "tls": len(tls)},
        "data_json": Markup(script_json(data)),
    }


# --------------------------------------------------------------------------- rendering

def _raw_asset(name: str, closing: str) -> Markup:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if closing in text.lower():  # would end the inline element early
        raise ValueError(f"{name} must not contain {closing}")
    return Markup(text)


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.ChainableUndefined)
    env.filters.update(utc=fmt_utc, duration=fmt_duration, bytes=fmt_bytes, int=fmt_int,
                       severity_rank=lambda s: SEVERITY_RANK.get(_str(s).lower(), 9))
    env.globals.update(offset=fmt_offset, css=lambda: _raw_asset("report.css", "</style"),
                       js=lambda: _raw_asset("report.js", "</script"), dict_=_dict, list_=_list, str_=_str)
    return env


def render_html(analysis: dict) -> str:
    """The whole report as one HTML string (UTF-8 text, no external resources)."""
    view = build_view(analysis if isinstance(analysis, dict) else {})
    return _env().get_template("report.html.j2").render(v=view)


def write_html(analysis: dict, path) -> Path:
    p = Path(path)
    p.write_text(render_html(analysis), encoding="utf-8")
    return p
