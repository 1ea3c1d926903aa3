"""The self-contained HTML report: one file, no network, opens fast on big captures.

`render_html(analysis)` takes the analysis layer's JSON-able dict and returns the page.
What is small and read first (header, findings, one SVG timeline per image) is
rendered here with jinja2 (autoescape on: every string came out of a packet).
The big tables (calls, SQL statements, digest, tokens, TLS sessions) travel as one
embedded JSON block that the page's vanilla JS turns into rows lazily, so a capture
with thousands of calls still opens in well under two seconds.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from functools import lru_cache
from pathlib import Path

import jinja2
from markupsafe import Markup

from ..analysis.findings import SEVERITY_ORDER
from .safe_text import json_ready, visible_tree
from .throughput_chart import chart as throughput_chart
from .timeline import timeline
from .values import dict_ as _dict
from .values import fmt_bytes, fmt_duration, fmt_int, fmt_offset, fmt_utc
from .values import list_ as _list
from .values import num as _num
from .values import str_ as _str

TEMPLATES = Path(__file__).resolve().parent / "templates"

SEVERITY_RANK = SEVERITY_ORDER  # the analysis's one severity scale

# --------------------------------------------------------------------------- JSON embedding

def script_json(obj) -> str:
    """JSON safe inside <script>: no `</script>`, `<!--`, `]]>`, nor JS line separators."""
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str)
    except ValueError:  # NaN or inf somewhere
        text = json.dumps(json_ready(obj), ensure_ascii=False, separators=(",", ":"))
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


def _without_series(call: dict) -> dict:
    """The call for the page's tables: its throughput series is drawn as SVG, not carried twice."""
    tp = call.get("throughput")
    if not isinstance(tp, dict):
        return call
    return {**call, "throughput": {k: v for k, v in tp.items() if k not in ("points", "gaps")}}


def _transfer_calls(image: dict, calls_by_id: dict, calls_of_image: dict, served_by: dict) -> list[dict]:
    """The image's calls and what Glance fetched for them (a web-download's source), each once."""
    mine = [calls_by_id[c] for c in map(_str, _list(image.get("calls"))) if c in calls_by_id]
    mine += calls_of_image.get(_str(image.get("id")), [])
    mine += [s for c in list(mine) for s in served_by.get(_str(c.get("id")), ())]
    return list({id(c): c for c in mine}.values())


class _Index:
    """The calls and statements by id, by position in the embedded arrays, by image, and what
    Glance asked Keystone or an import source for each call: what the timelines look things up in."""

    def __init__(self, calls: list[dict], sql: list[dict]):
        self.calls_by_id: dict = {}
        self.call_index: dict = {}  # id(dict) → position in the embedded calls array
        self.call_idx_by_id: dict = {}
        for i, c in enumerate(calls):
            cid = _str(c.get("id"))
            self.calls_by_id.setdefault(cid, c)
            self.call_idx_by_id.setdefault(cid, i)
            self.call_index[id(c)] = i
        self.sql_by_id: dict = {}
        self.sql_index: dict = {}
        for i, s in enumerate(sql):
            sid = _str(s.get("id"))
            self.sql_by_id.setdefault(sid, s)
            self.sql_index.setdefault(sid, i)
        self.calls_of_image = _by_image(calls)
        self.sql_of_image = _by_image(sql)
        self.keystone_calls = [c for c in calls if c.get("service") == "keystone"]
        self.served_by: dict = {}  # Glance call id → what Glance asked Keystone / an import source for it
        for c in calls:
            if c.get("serves"):
                self.served_by.setdefault(_str(c.get("serves")), []).append(c)


def _by_image(rows: list[dict]) -> dict:
    out: dict = {}
    for r in rows:
        if r.get("image_id"):
            out.setdefault(_str(r.get("image_id")), []).append(r)
    return out


def _image_views(images: list[dict], finding_sort: list[dict], ix: _Index, t0, capture_end) -> list[dict]:
    """Per image: its transitions pointing into the embedded tables, its findings, timeline and
    throughput picture."""
    views = []
    for i, im in enumerate(images):
        fids = set(map(_str, _list(im.get("findings"))))
        iid = _str(im.get("id"))
        trs = []
        for tr in _list(im.get("transitions")):
            tr = _dict(tr)
            trs.append({**tr, "call_idx": ix.call_idx_by_id.get(_str(tr.get("call_id"))),
                        "sql_idx": ix.sql_index.get(_str(tr.get("sql_id"))),
                        "frames": [f for f in _list(tr.get("frames"))]})
        views.append({
            "anchor": f"image-{i}", "raw": im, "transitions": trs,
            "findings": [f for f in finding_sort
                         if _str(f.get("id")) in fids or (iid and _str(f.get("image_id")) == iid)],
            "timeline": timeline(im, ix.calls_by_id, ix.call_index, ix.sql_by_id, ix.sql_index,
                                  ix.calls_of_image, ix.sql_of_image, ix.keystone_calls, t0, ix.served_by,
                                  capture_end),
            "throughput": throughput_chart(_transfer_calls(im, ix.calls_by_id, ix.calls_of_image, ix.served_by)),
            "open": i < 12,  # beyond a dozen images, timelines unfold on demand
        })
    return views


def _severity_counts(findings: list[dict], summary: dict) -> list[tuple]:
    """(severity, count), most severe first; the summary's own counts win."""
    counts = {}
    for f in findings:
        k = _str(f.get("severity")).lower() or "info"
        counts[k] = counts.get(k, 0) + 1
    if isinstance(summary.get("findings_by_severity"), dict):
        counts = {**counts, **{_str(k): v for k, v in summary["findings_by_severity"].items()}}
    return sorted(((k, n) for k, n in counts.items() if _num(n)),
                  key=lambda kv: (SEVERITY_RANK.get(kv[0], 9), kv[0]))


def _warnings(summary: dict, captures: list[dict]) -> list[str]:
    warnings = [_str(w) for w in _list(summary.get("warnings"))]
    for c in captures:
        warnings += [f"{_str(c.get('path'))}: {_str(w)}" for w in _list(c.get("warnings"))]
    return warnings


def _capture_span(summary: dict, captures: list[dict]) -> tuple:
    """First and last packet times: the summary's, else the captures' own."""
    first = _num(summary.get("first_ts"))
    last = _num(summary.get("last_ts"))
    if first is None:
        firsts = [t for t in (_num(c.get("first_ts")) for c in captures) if t is not None]
        first = min(firsts) if firsts else None
    if last is None:
        lasts = [t for t in (_num(c.get("last_ts")) for c in captures) if t is not None]
        last = max(lasts) if lasts else None
    return first, last


def _embedded(a: dict, calls: list[dict], sql: list[dict], tls: list[dict], finding_sort: list[dict],
              images: list[dict], image_anchor: dict, t0) -> dict:
    """The big tables, carried as one JSON block the page's script turns into rows."""
    return {
        "t0": t0,
        "calls": columns([_without_series(c) for c in calls]),
        # the page recomputes a statement's filter from its numbers, unless one spans pieces
        "sql": columns(sql, derived=() if any(len(_list(r.get("evidence"))) > 1 for r in sql) else ("wireshark_filter",)),
        "sql_digest": _list(a.get("sql_digest")),
        "tokens": _list(a.get("tokens")),
        "tls_sessions": tls,
        "findings": finding_sort,
        "images": [{"id": _str(im.get("id")), "name": _str(im.get("name")), "anchor": image_anchor[_str(im.get("id"))]}
                   for im in images],
    }


def build_view(analysis: dict) -> dict:
    """Everything the templates need, read defensively from the analysis dict."""
    a = _dict(analysis)
    summary = _dict(a.get("summary"))
    captures = [_dict(c) for c in _list(a.get("captures"))]
    images = [_dict(i) for i in _list(a.get("images"))]
    calls = [_dict(c) for c in _list(a.get("calls"))]
    sql = [_dict(s) for s in _list(a.get("sql"))]
    tls = [_dict(t) for t in _list(a.get("tls_sessions"))]
    t0 = _first_ts(a)
    ix = _Index(calls, sql)
    image_anchor = {}
    for i, im in enumerate(images):
        image_anchor.setdefault(_str(im.get("id")), f"image-{i}")
    finding_sort = sorted((_dict(f) for f in _list(a.get("findings"))), key=_severity_key)
    views = _image_views(images, finding_sort, ix, t0, _num(summary.get("last_ts")))  # before the tables, as ever
    data = _embedded(a, calls, sql, tls, finding_sort, images, image_anchor, t0)
    first, last = _capture_span(summary, captures)
    return {
        "tool": _dict(a.get("tool")), "summary": summary, "captures": captures, "t0": t0,
        "first_ts": first, "last_ts": last,
        "span": (last - first) if first is not None and last is not None else None,
        "link_types": sorted({_str(lt) for c in captures
                              for lt in (_list(c.get("link_type_names")) or _list(c.get("link_types")))}),
        "warnings": _warnings(summary, captures),
        "skipped": _dict(summary.get("skipped")), "gaps": _dict(summary.get("gaps")),
        "findings": finding_sort,
        "image_name": {_str(im.get("id")): _str(im.get("name")) for im in images},
        "call_label": _CallLabels(ix.calls_by_id),
        "sev_counts": _severity_counts(finding_sort, summary),
        "images": views, "image_anchor": image_anchor,
        "call_idx": ix.call_idx_by_id, "sql_idx": ix.sql_index,
        "tls_decrypted": [t for t in tls if t.get("decrypted")],
        "tls_not_decrypted": [t for t in tls if not t.get("decrypted")],
        "counts": {"calls": len(calls), "sql": len(sql), "digest": len(data["sql_digest"]),
                   "tokens": len(data["tokens"]), "tls": len(tls)},
        "data_json": Markup(script_json(data)),
        "logs": _dict(a.get("logs")),  # --log files: what was read, what matched nothing
    }


# --------------------------------------------------------------------------- rendering

def _raw_asset(name: str, closing: str) -> Markup:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if closing in text.lower():  # would end the inline element early
        raise ValueError(f"{name} must not contain {closing}")
    return Markup(text)


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """The compiled templates, kept between runs: compiling them took ~0.2 s of every report (a sixth of a
    small one's).  Jinja's own cache, in a directory of the temp dir only this user may use (Jinja checks
    that); keyed by the templates' checksum, so a changed template is compiled again.  Reading or writing
    it failing (no temp dir, a full disk, a damaged entry) costs only that time, never the report."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


_OPTIONS = {"autoescape": True, "trim_blocks": True, "lstrip_blocks": True}
# the compiled code depends on these and on Jinja's version, not only on the template's text
_CACHE_NAMES = "glancetrace-" + hashlib.sha1(repr((sorted(_OPTIONS.items()), jinja2.__version__)).encode()).hexdigest()[:10] + "-%s"


def template_cache(directory: str | None = None) -> jinja2.BytecodeCache | None:
    try:
        return _TemplateCache(directory, _CACHE_NAMES)
    except (OSError, RuntimeError):  # (RuntimeError: Jinja found the directory unsafe or could not make it)
        return None


def environment(cache: jinja2.BytecodeCache | None) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.ChainableUndefined,
                             bytecode_cache=cache, **_OPTIONS)
    env.filters.update(utc=fmt_utc, duration=fmt_duration, bytes=fmt_bytes, int=fmt_int,
                       severity_rank=lambda s: SEVERITY_RANK.get(_str(s).lower(), 9))
    env.globals.update(offset=fmt_offset, css=lambda: _raw_asset("report.css", "</style"),
                       js=lambda: _raw_asset("report.js", "</script"), dict_=_dict, list_=_list, str_=_str)
    return env


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return environment(template_cache())


def render_html(analysis: dict) -> str:
    """The whole report as one HTML string (UTF-8 text, no external resources).

    Every string is made visible first (safe_text): a lone surrogate could not be written as UTF-8,
    a bidi override would turn an image id around, control characters would hide."""
    view = build_view(visible_tree(analysis) if isinstance(analysis, dict) else {})
    return _env().get_template("report.html.j2").render(v=view)


def write_html(analysis: dict, path) -> Path:
    p = Path(path)
    p.write_text(render_html(analysis), encoding="utf-8")
    return p
