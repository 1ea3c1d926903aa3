"""The geometry of an image's SVG timeline (timeline.svg.j2 draws it): state bands, API calls as bars
in one lane per service, SQL as ticks, status changes as markers; a zoomed second view when the
status changes fill a sliver of the window."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..openstack.image_status import IMAGE_STATUSES
from .values import dict_ as _dict
from .values import fmt_duration, fmt_offset, fmt_utc
from .values import list_ as _list
from .values import num as _num
from .values import str_ as _str

# Timeline geometry, in SVG user units (the SVG scales to the page width).
TL_WIDTH = 1200
TL_GUTTER = 172  # lane labels ("client → haproxy (TLS)")
TL_RIGHT = 16
TL_AXIS = 26
TL_STATUS_H = 26
TL_ROW_H = 16
TL_ROW_GAP = 4
TL_LANE_PAD = 6
TL_SQL_H = 34
TL_MAX_ROWS = 8  # stacked rows per lane before bars are allowed to overlap

TL_FINAL_H = 16  # the final state's label, under the status lane
TL_BREAK = 18  # the folded idle stretch between an image's last activity and the capture's end
TL_TAIL = 0.1  # share of the plot width for the stretch before the capture's end, after a fold

# (lane key in the document, its label), top to bottom: who talked to whom (analysis/lanes.py)
LANES = [
    ("client->haproxy", "client → haproxy"),
    ("haproxy->glance", "haproxy → Glance"),
    ("client->glance", "client → Glance API"),
    ("client->keystone", "client → Keystone"),
    ("haproxy->keystone", "haproxy → Keystone"),
    ("glance->keystone", "Glance → Keystone"),
    ("glance->swift", "Glance → Swift"),
    ("haproxy->swift", "haproxy → Swift"),
    ("glance->import", "Glance → import source"),
    ("other", "other HTTP"),
]
_LANE_OF_SERVICE = {"keystone": "client->keystone", "glance": "client->glance", "swift": "glance->swift"}


def lane_of(c: dict) -> str:
    """The call's lane; a document without lanes (older, hand-made) falls back on its service."""
    lane = _str(c.get("lane"))
    if lane in dict(LANES):
        return lane
    return _LANE_OF_SERVICE.get(_str(c.get("service")), "other")


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
    return "st-" + s if s in IMAGE_STATUSES else "st-other"


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
    """Time → x over [t_start, t_end]; with `fold` = (f0, f1) the stretch between is drawn as a
    TL_BREAK-wide break (what falls inside it sits on the break)."""

    def __init__(self, t_start: float, t_end: float, fold: tuple[float, float] | None = None):
        if t_end <= t_start:
            t_end = t_start + 1.0
        self.t0, self.t1, self.fold = t_start, t_end, fold
        plot = TL_WIDTH - TL_GUTTER - TL_RIGHT
        if fold:
            self.k = (plot - TL_BREAK) / ((fold[0] - t_start) + (t_end - fold[1]))
            self.break_x = round(TL_GUTTER + (fold[0] - t_start) * self.k, 1)
        else:
            self.k = plot / (t_end - t_start)
            self.break_x = None

    def x(self, t: float) -> float:
        f = self.fold
        if f is None or t <= f[0]:
            return round(TL_GUTTER + (t - self.t0) * self.k, 1)
        if t < f[1]:
            return round(self.break_x + TL_BREAK / 2, 1)
        return round(self.break_x + TL_BREAK + (t - f[1]) * self.k, 1)


def _window(lo: float, hi: float, capture_end: float | None) -> _Scale:
    """The image's activity, drawn on to the capture's end; an idle stretch that would take more
    than a third of the width is folded behind a break, leaving the capture's last TL_TAIL."""
    pad = max((hi - lo) * 0.02, 0.005)
    if capture_end is None or capture_end <= hi + pad:
        return _Scale(lo - pad, hi + pad)
    busy = hi + pad - (lo - pad)
    if capture_end - hi <= busy * 0.5:
        return _Scale(lo - pad, capture_end)
    tail = busy * TL_TAIL / (1 - TL_TAIL)
    return _Scale(lo - pad, capture_end, (hi + pad, capture_end - tail))


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


@dataclass
class _Activity:
    """What one image's timeline draws, and the indexes that link its marks to the page's tables."""
    calls: list
    sql: list
    states: list
    transitions: list
    call_index: dict
    sql_index: dict
    calls_by_id: dict
    t_first: float | None
    served_by: dict  # call id → the Glance → Keystone / import calls made for it
    final: dict  # the document's final_state of the image


def _image_calls_and_sql(image: dict, calls_by_id: dict, calls_of_image: dict, sql_by_id: dict,
                         sql_of_image: dict) -> tuple[list, list]:
    """The image's calls (listed on it or naming it) and their SQL plus the SQL naming the image."""
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
    return my_calls, my_sql


def _activity_times(act: _Activity) -> list[float]:
    times = []
    for c in act.calls:
        times += [t for t in (_num(c.get("request_time")), _call_end(c)) if t is not None]
    for s in act.sql:
        times += [t for t in (_num(s.get("request_time")), _num(s.get("response_time"))) if t is not None]
    times += [t for t in (_num(x.get("time")) for x in act.transitions) if t is not None]
    times += [t for s in act.states for t in (_num(s.get("start")), _num(s.get("end"))) if t is not None]
    return times


def _add_served_calls(act: _Activity) -> None:
    """What Glance asked Keystone (and an import source) while serving the image's calls."""
    seen = {id(c) for c in act.calls}
    for c in list(act.calls):
        for cid in (_str(c.get("id")), _str(c.get("peer"))):
            for s in act.served_by.get(cid, ()):
                if id(s) not in seen:
                    seen.add(id(s))
                    act.calls.append(s)


def _add_token_calls(act: _Activity, keystone_calls: list, lo: float, hi: float) -> float:
    """The client's Keystone calls just before or during the image's activity (its token) belong on
    its timeline (Glance's own are there when they served its calls); returns the new window start."""
    margin = max((hi - lo) * 0.1, 1.0)
    seen = {id(c) for c in act.calls}
    for c in keystone_calls:
        if id(c) in seen or lane_of(c) == "glance->keystone":
            continue
        a, b = _num(c.get("request_time")), _call_end(c)
        if a is None or b is None:
            continue
        if b >= lo - margin and a <= hi:
            act.calls.append(c)
            seen.add(id(c))
            lo = min(lo, a)
    return lo


def timeline(image: dict, calls_by_id: dict, call_index: dict, sql_by_id: dict, sql_index: dict,
              calls_of_image: dict, sql_of_image: dict, keystone_calls: list, t_first: float | None,
              served_by: dict | None = None, capture_end: float | None = None) -> dict | None:
    my_calls, my_sql = _image_calls_and_sql(image, calls_by_id, calls_of_image, sql_by_id, sql_of_image)
    act = _Activity(my_calls, my_sql, [_dict(s) for s in _list(image.get("states"))],
                    [_dict(t) for t in _list(image.get("transitions"))], call_index, sql_index, calls_by_id, t_first,
                    served_by or {}, _dict(image.get("final_state")))
    _add_served_calls(act)
    times = _activity_times(act)
    if not times:
        return None
    lo, hi = min(times), max(times)
    lo = _add_token_calls(act, keystone_calls, lo, hi)
    full = _draw(act, _window(lo, hi, capture_end), final=True)
    full["zoom"] = None
    # A lifecycle of a few ms inside minutes of calls would be a sliver: draw it again, zoomed.
    f_times = [t for t in (_num(x.get("time")) for x in act.transitions) if t is not None]
    if f_times:
        f_lo, f_hi = min(f_times), max(f_times)
        f_pad = max((f_hi - f_lo) * 0.25, 0.02)
        if (f_hi - f_lo) + 2 * f_pad < 0.25 * (hi - lo):
            full["zoom"] = {**_draw(act, _Scale(f_lo - f_pad, f_hi + f_pad)), "is_zoom": True}
    return full


def _draw(act: _Activity, sc: _Scale, final: bool = False) -> dict:
    """The geometry of one view of the timeline over sc's time window (what lies outside is left out);
    the `final` view (the whole one) labels the state the image was left in at the capture's end."""
    y = TL_AXIS
    lanes = [{"label": "image status", "y": y, "h": TL_STATUS_H, "kind": "status"}]
    status_y = y
    y += TL_STATUS_H + TL_LANE_PAD
    label = _final_label(act, sc, y) if final else None
    if label:
        y += TL_FINAL_H
    bars = []
    for key, name in LANES:
        lane, lane_bars = _call_lane(act, sc, key, name, y)
        if lane:
            lanes.append(lane)
            bars += lane_bars
            y += lane["h"] + TL_LANE_PAD
    # MySQL lane: one tick per statement, merged per pixel so 30,000 statements stay light.
    lanes.append({"label": "Glance → MySQL", "y": y, "h": TL_SQL_H, "kind": "mysql"})
    ticks = _sql_ticks(act, sc, y)
    y += TL_SQL_H + TL_LANE_PAD
    return {"width": TL_WIDTH, "height": y + 2, "gutter": TL_GUTTER, "plot_right": TL_WIDTH - TL_RIGHT,
            "lanes": lanes, "bands": _status_bands(act.states, sc), "bars": bars, "ticks": ticks,
            "markers": _markers(act.transitions, sc, act.t_first), "axis": _axis(sc, act.t_first),
            "status_y": status_y, "status_h": TL_STATUS_H, "axis_y": TL_AXIS,
            "start": sc.t0, "end": sc.t1, "n_calls": len(act.calls), "n_sql": len(act.sql),
            "final": label, "fold": _fold(sc, y + 2)}


def _final_label(act: _Activity, sc: _Scale, y: float) -> dict | None:
    """The document's final_state label, right-aligned under the end of the status lane."""
    text = _str(act.final.get("label"))
    if not text:
        return None
    return {"text": text, "x": sc.x(sc.t1), "y": y + TL_FINAL_H - 5, "stuck": bool(act.final.get("stuck")),
            "status": _str(act.final.get("status"))}


def _fold(sc: _Scale, height: float) -> dict | None:
    if sc.fold is None:
        return None
    f0, f1 = sc.fold
    return {"x": sc.break_x, "w": TL_BREAK, "h": height, "seconds": f1 - f0,
            "title": f"{fmt_duration(f1 - f0)} folded: nothing of this image happened from {fmt_utc(f0)} to {fmt_utc(f1)}"}


def _axis(sc: _Scale, t_first: float | None) -> list[dict]:
    span = sc.t1 - sc.t0
    step = _nice_step(span)
    base = t_first if t_first is not None else sc.t0
    first_tick = math.ceil((sc.t0 - base) / step) * step + base
    axis = []
    t = first_tick
    decimals = max(0, -int(math.floor(math.log10(step)))) if step < 1 else 0
    last = sc.fold[0] if sc.fold else sc.t1
    while t <= last + 1e-9 and len(axis) < 40:
        axis.append({"x": sc.x(t), "label": f"+{t - base:.{decimals}f}s" if t >= base else f"{t - base:.{decimals}f}s"})
        t += step
    if sc.fold:  # past the break, only the capture's end
        axis.append({"x": sc.x(sc.t1), "label": f"+{sc.t1 - base:.{decimals}f}s", "end": True})
    return axis


def _status_bands(states: list, sc: _Scale) -> list[dict]:
    """The image status lane: one band per state."""
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
    return bands


def _call_lane(act: _Activity, sc: _Scale, key: str, label: str, y: float) -> tuple[dict | None, list]:
    """One lane (None when empty) and its bars, packed in rows."""
    group = [c for c in act.calls if lane_of(c) == key]
    if not group:
        return None, []
    if key == "client->haproxy" and any(c.get("tls") for c in group):
        label += " (TLS)"
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
    lane = {"label": label, "y": y, "h": nrows * (TL_ROW_H + TL_ROW_GAP) + TL_ROW_GAP, "kind": key.replace(">", "")}
    return lane, [_call_bar(act, sc, c, y + TL_ROW_GAP + r * (TL_ROW_H + TL_ROW_GAP)) for r, c in packed]


def _call_bar(act: _Activity, sc: _Scale, c: dict, y: float) -> dict:
    a = _num(c.get("request_time"))
    b = _call_end(c) or a
    x1 = sc.x(max(a, sc.t0))
    w = max(sc.x(min(b, sc.t1)) - x1, 2.0)
    text = _str(c.get("kind")) or _str(c.get("method"))
    st = c.get("status")
    if st is not None:
        text = f"{text} {st}"
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
        f"{fmt_utc(a)} ({fmt_offset(a, act.t_first)}) latency {fmt_duration(c.get('latency'))}",
        f"{len(_list(c.get('sql')))} SQL statements" if _list(c.get("sql")) else "",
        ", ".join(flags),
    ]))
    inner = _validations(act, sc, c, y, a, b)
    if inner:
        spent = sum(v["seconds"] for v in inner)
        title += f"\nGlance's token validation by Keystone: {fmt_duration(spent)} of {fmt_duration(b - a)}"
    return {"x": x1, "y": y, "w": round(w, 2),
            "h": TL_ROW_H, "cls": _status_class(st) + (" cut" if c.get("incomplete") and st is not None else ""),
            "label": text if w > len(text) * 6.2 + 6 else "", "title": title, "validations": inner,
            "idx": act.call_index.get(id(c)), "id": _str(c.get("id"))}


def _validations(act: _Activity, sc: _Scale, c: dict, y: float, a: float, b: float) -> list[dict]:
    """Glance's token validations made for this call, as spans inside its bar."""
    out = []
    for cid in (_str(c.get("id")), _str(c.get("peer"))):
        for v in act.served_by.get(cid, ()):
            va, vb = _num(v.get("request_time")), _call_end(v)
            if not v.get("token_validation") or va is None or vb is None:
                continue
            va, vb = max(va, a), min(vb, b)
            if vb <= va:
                continue
            x = sc.x(va)
            out.append({"x": x, "w": round(max(sc.x(vb) - x, 1.0), 2), "y": y + 3, "h": TL_ROW_H - 6,
                        "seconds": vb - va, "id": _str(v.get("id"))})
    return out


def _sql_ticks(act: _Activity, sc: _Scale, y: float) -> list[dict]:
    buckets: dict = {}
    for s in act.sql:
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
        call_id = _str(s0.get("call_id"))
        cidx = act.call_index.get(id(act.calls_by_id[call_id])) if call_id in act.calls_by_id else None
        full = kind in ("status", "error")
        ticks.append({"x": px, "y": y + (3 if full else 10), "h": TL_SQL_H - (6 if full else 20), "cls": kind,
                      "title": f"{fmt_utc(_num(s0.get('request_time')))} ({fmt_offset(_num(s0.get('request_time')), act.t_first)})"
                               f" — {len(group)} statement{'s' if len(group) > 1 else ''}\n" + _tick_lines(group, kind),
                      "sql": " ".join(_str(s.get("id")) for s in group),
                      "sql_idx": act.sql_index.get(_str(s0.get("id"))), "call_idx": cidx})
    return ticks


def _tick_lines(group: list, kind: str) -> str:
    """The first three statements of a tick (the drawer has the rest: keep 30,000 statements' worth of SVG small)."""
    lines = []
    for s in group[:3]:
        sc_ = _dict(s.get("status_change"))
        chg = f" [status → {_str(sc_.get('to'))}]" if sc_ else ""
        err = f" ERROR {_str(s.get('error_code'))} {_str(s.get('error_message'))[:80]}" if kind == "error" else ""
        text = _str(s.get("sql")) or _str(s.get("command"))
        lines.append(f"{_str(s.get('id'))}: {text[:90]}{'…' if len(text) > 90 else ''}{chg}{err}"
                     f" ({fmt_duration(s.get('latency'))})")
    if len(group) > 3:
        lines.append(f"… and {len(group) - 3} more")
    return "\n".join(lines)


def _markers(transitions: list, sc: _Scale, t_first: float | None) -> list[dict]:
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
    return markers
