"""The geometry of an image's throughput picture (throughput.svg.j2 draws it): the bytes of each of
its uploads, Swift PUTs and web-download transfers over time, all from their own start on one time
and one byte scale, so their slopes (speeds) compare at a glance; capture gaps and TCP stalls marked (the
receiver's zero-window and window-full periods, each its own shade, named in the legend).

Built from the calls' `throughput` objects in the document (analysis/throughput.py)."""

from __future__ import annotations

from .timeline import lane_of
from .values import dict_ as _dict
from .values import fmt_bytes, fmt_duration, fmt_utc
from .values import list_ as _list
from .values import num as _num
from .values import str_ as _str

TP_WIDTH = 1200
TP_LEFT = 70  # byte labels
TP_RIGHT = 16
TP_TOP = 10
TP_PLOT_H = 150
TP_AXIS_H = 24
MIB = 1024 * 1024
# the kinds of TCP stall drawn (analysis/throughput.py `stalls`), their CSS class and legend words
STALL_LEGEND = (("zero-window", "zero window: the receiver stopped reading"),
                ("window-full", "window full: the sender waited for the receiver to read (a slow store)"))
_COUNTED = {"zero-window": "zero window", "window-full": "window-full period"}
_LANE_WORDS = {"client->haproxy": "client → haproxy", "client->glance": "client → Glance",
               "haproxy->glance": "haproxy → Glance", "glance->swift": "Glance → Swift",
               "haproxy->swift": "haproxy → Swift", "glance->import": "import source → Glance"}


def _points(t: dict) -> list[tuple[float, float]]:
    """The series' [time, bytes] pairs that are numbers (a damaged document draws what it can)."""
    pts = [(_num(p[0]), _num(p[1])) for p in _list(t.get("points")) if isinstance(p, (list, tuple)) and len(p) == 2]
    return [p for p in pts if p[0] is not None and p[1] is not None]


def _transfers(calls: list[dict]) -> list[tuple[dict, dict, list]]:
    """(call, its throughput, its points) for the calls with a series, once per request: haproxy's
    backend hop repeats its frontend's bytes."""
    seen = {_str(c.get("id")) for c in calls}
    out = []
    for c in calls:
        t = _dict(c.get("throughput"))
        pts = _points(t)
        if not pts or _num(t.get("start")) is None:
            continue
        if lane_of(c) in ("haproxy->glance", "haproxy->swift") and _str(c.get("peer")) in seen:
            continue
        out.append((c, t, pts))
    return sorted(out, key=lambda x: _num(x[1]["start"]))


def _nice(v: float) -> float:
    """The round number (1, 2, 2.5 or 5 times a power of ten) at or above v."""
    for e in range(-6, 16):
        for m in (1, 2, 2.5, 5):
            if m * 10 ** e >= v:
                return m * 10 ** e
    return v


def _nice_bytes(v: float) -> float:
    unit = MIB if v >= MIB else 1024 if v >= 1024 else 1
    return _nice(v / unit) * unit


def chart(calls: list[dict]) -> dict | None:
    """The picture of one image's transfers (None when it has none)."""
    transfers = _transfers(calls)
    if not transfers:
        return None
    span = max(max(pts[-1][0] - _num(t["start"]) for _, t, pts in transfers), 1e-3)
    top = max(max(p[1] for p in pts) for _, _, pts in transfers)
    top = _nice_bytes(top) if top > 0 else 1
    kx = (TP_WIDTH - TP_LEFT - TP_RIGHT) / span
    ky = TP_PLOT_H / top

    def xy(dt: float, b: float) -> tuple[float, float]:
        return round(TP_LEFT + dt * kx, 1), round(TP_TOP + TP_PLOT_H - b * ky, 1)

    series = [_series(i, c, t, pts, xy) for i, (c, t, pts) in enumerate(transfers)]
    shown = {st["css"] for sr in series for st in sr["stalls"]}
    return {"stall_legend": [{"css": css, "words": words} for css, words in STALL_LEGEND if css in shown],
            "width": TP_WIDTH, "height": TP_TOP + TP_PLOT_H + TP_AXIS_H, "left": TP_LEFT,
            "right": TP_WIDTH - TP_RIGHT, "top": TP_TOP, "bottom": TP_TOP + TP_PLOT_H,
            "series": series, "x_axis": _x_axis(span, kx), "y_axis": _y_axis(top, ky)}


def _series(i: int, c: dict, t: dict, pts: list[tuple[float, float]], xy) -> dict:
    start = _num(t["start"])
    drawn = _pixels([xy(0.0, 0.0)] + [xy(p[0] - start, p[1]) for p in pts])
    rate = _num(t.get("mib_per_s"))
    gaps = [_dict(g) for g in _list(t.get("gaps"))]
    stalls = [_dict(s) for s in _list(t.get("stalls"))]
    last_b = pts[-1][1]
    words = (f"{_str(c.get('method'))} {_str(c.get('kind'))} ({_LANE_WORDS.get(lane_of(c), lane_of(c))}): "
             f"{fmt_bytes(t.get('bytes'))} in {fmt_duration(t.get('seconds'))}"
             + (f", {rate:,.2f} MiB/s" if rate is not None else "")
             + (f", {len(gaps)} capture gap{'s' if len(gaps) != 1 else ''}" if gaps else "")
             + "".join(f", {n} {kind}{'s' if n != 1 else ''}" for kind, n in _stall_counts(stalls))
             + (f", answered {c.get('status')}" if c.get("status") is not None else ", no response"))
    return {
        "n": i % 6, "id": _str(c.get("id")), "bytes": t.get("bytes"), "last": int(last_b), "rate": rate,
        "points": " ".join(f"{x},{y}" for x, y in drawn), "words": words,
        "title": f"{words}\nstarted {fmt_utc(start)}",
        "end": drawn[-1],
        "gaps": [{"x": xy(_num(g.get("time")) - start, 0)[0], "y": xy(0, _num(g.get("offset")) or 0)[1],
                  "title": f"capture gap: {fmt_bytes(g.get('bytes'))} not captured at byte {g.get('offset')}"}
                 for g in gaps if _num(g.get("time")) is not None],
        "stalls": [_stall(s, start, xy) for s in stalls if _num(s.get("start")) is not None],
    }


def _pixels(drawn: list[tuple[float, float]]) -> list[tuple[int, int]]:
    """Whole units (a 1200-unit wide picture), a point per distinct one: a quarter of the bytes."""
    out: list[tuple[int, int]] = []
    for x, y in drawn:
        p = (round(x), round(y))
        if not out or p != out[-1]:
            out.append(p)
    return out


def _stall_counts(stalls: list[dict]) -> list[tuple[str, int]]:
    """(words, how many) per kind of TCP stall, in the legend's order."""
    n = {c: 0 for c, _ in STALL_LEGEND}
    for s in stalls:
        periods = _num(s.get("periods"))
        n[_stall_css(_str(s.get("kind")))] += int(periods) if periods and periods > 1 else 1
    return [(_COUNTED[c], n[c]) for c, _ in STALL_LEGEND if n[c]]


def _stall_css(kind: str) -> str:
    return "window-full" if kind == "window full" else "zero-window"


def _stall(s: dict, start: float, xy) -> dict:
    a = _num(s.get("start"))
    b = _num(s.get("end"))
    x1 = xy(a - start, 0)[0]
    x2 = xy((b if b is not None else a) - start, 0)[0]
    kind = _str(s.get("kind")) or "stall"
    title = f"{kind} from {fmt_utc(a)}" + (f" for {fmt_duration(b - a)}" if b is not None else "")
    periods = _num(s.get("periods"))
    if periods and periods > 1:  # the periods after the first 16, folded (tcp/window_full.py): a band over them
        title = f"{int(periods)} more {kind} periods from {fmt_utc(a)}" + (f" to {fmt_utc(b)}" if b is not None else "")
    return {"x": x1, "w": round(max(x2 - x1, 2.0), 1), "kind": kind, "css": _stall_css(kind), "title": title}


def _x_axis(span: float, kx: float) -> list[dict]:
    step = _nice(span / 8)
    out, t = [], 0.0
    while t <= span + 1e-12 and len(out) < 20:
        out.append({"x": round(TP_LEFT + t * kx, 1), "label": f"+{fmt_duration(t)}" if t else "0"})
        t += step
    return out


def _y_axis(top: float, ky: float) -> list[dict]:
    return [{"y": round(TP_TOP + TP_PLOT_H - b * ky, 1), "label": fmt_bytes(b) if b else "0"}
            for b in (top * k / 4 for k in range(5))]
