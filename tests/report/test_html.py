"""The HTML report, read back from the HTML itself (html.parser): content, escaping, no network."""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser

import pytest

from glancetrace.report.html import render_html, script_json

from . import browser_data
from .browser_data import HOSTILE_NAME, HOSTILE_URI, small_analysis


class Node:
    __slots__ = ("tag", "attrs", "children", "text", "parent")

    def __init__(self, tag, attrs, parent=None):
        self.tag, self.attrs, self.parent = tag, dict(attrs), parent
        self.children, self.text = [], []

    def iter(self):
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag=None, **attrs):
        for n in self.iter():
            if (tag is None or n.tag == tag) and all(
                    (n.attrs.get(k.replace("_", "-")) == v if v is not True else k.replace("_", "-") in n.attrs)
                    for k, v in attrs.items()):
                yield n

    def classes(self):
        return (self.attrs.get("class") or "").split()

    def all_text(self):
        return "".join(t for n in self.iter() for t in n.text)


VOID = {"meta", "br", "hr", "img", "input", "link", "source", "wbr", "col", "area", "base", "embed", "param", "track"}
SVG_SELF_CLOSING = {"rect", "line", "path", "circle", "polygon", "polyline", "ellipse", "use", "stop"}


class TreeBuilder(HTMLParser):
    """A tiny DOM from html.parser: enough to find elements and their text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.cur = self.root
        self.start_tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.start_tags.append(tag)
        n = Node(tag, attrs, self.cur)
        self.cur.children.append(n)
        if tag not in VOID:
            self.cur = n

    def handle_startendtag(self, tag, attrs):
        self.start_tags.append(tag)
        self.cur.children.append(Node(tag, attrs, self.cur))

    def handle_endtag(self, tag):
        n = self.cur
        while n is not self.root and n.tag != tag:
            n = n.parent
        if n is not self.root:
            self.cur = n.parent

    def handle_data(self, data):
        self.cur.text.append(data)


def parse(html: str) -> TreeBuilder:
    tb = TreeBuilder()
    tb.feed(html)
    tb.close()
    return tb


def embedded_data(tree: TreeBuilder) -> dict:
    (node,) = list(tree.root.find_all("script", id="gt-data"))
    # strict JSON, as the browser's JSON.parse reads it
    data = json.loads(node.all_text(), parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    for key in ("calls", "sql"):  # big tables travel as columns
        t = data[key]
        data[key] = [dict(zip(t["cols"], row)) for row in t["rows"]]
    return data


@pytest.fixture(scope="module")
def analysis():
    return small_analysis()


@pytest.fixture(scope="module")
def html(analysis):
    return render_html(analysis)


@pytest.fixture(scope="module")
def tree(html):
    return parse(html)


def test_header_shows_capture_tool_and_counts(analysis, tree):
    overview = next(tree.root.find_all("section", id="overview"))
    text = " ".join(overview.all_text().split())
    cap = analysis["captures"][0]
    assert cap["path"] in text
    assert "8.6 MiB" in text  # 9,010,454 bytes
    assert f"{cap['packets']:,}" in text
    assert "EN10MB" in text
    assert analysis["tool"]["command"] in text and analysis["tool"]["version"] in text
    for w in analysis["summary"]["warnings"] + cap["warnings"]:
        assert w in text
    assert f"{analysis['summary']['gaps']['bytes'] / 1024:.1f} KiB missing" in text
    # TLS: which connections were decrypted and why not
    for t in analysis["tls_sessions"]:
        assert t["server"] in text
    assert "no key for client random" in text
    # the time span, UTC with milliseconds
    assert "2026-11-27 00:27:05.955Z" in text
    assert "16.000 s" in text


def test_every_image_its_transitions_and_timeline(analysis, tree):
    sections = {n.attrs["data-image-id"]: n for n in tree.root.find_all("section", data_image_id=True)}
    assert list(sections) == [im["id"] for im in analysis["images"]]
    for im in analysis["images"]:
        sec = sections[im["id"]]
        assert im["name"] in sec.all_text()
        rows = [r for r in sec.find_all("tr") if "transition" in r.classes()]
        assert [r.attrs["data-status"] for r in rows] == [t["status"] for t in im["transitions"]]
        for r, t in zip(rows, im["transitions"]):
            assert ("failed" in r.classes()) == t["failed"]
            assert str(t["frames"][0]) in r.all_text()
        (svg,) = [s for s in sec.find_all("svg") if "timeline" in s.classes() and "zoom" not in s.classes()]
        bands = [g.attrs["data-status"] for g in svg.find_all("g") if "band" in g.classes()]
        assert bands == [s["status"] for s in im["states"]]
        markers = [g for g in svg.find_all("g") if "marker" in g.classes()]
        assert [m.attrs["data-status"] for m in markers] == [t["status"] for t in im["transitions"]]
        assert [("failed" in m.classes()) for m in markers] == [t["failed"] for t in im["transitions"]]
        bar_ids = {g.attrs["data-call-id"] for g in svg.find_all("g") if "call" in g.classes()}
        assert set(im["calls"]) <= bar_ids
        lanes = [t.all_text() for t in svg.find_all("text") if "lane-label" in t.classes()]
        assert lanes[0] == "image status" and "client → Keystone" in lanes and "Glance → MySQL" in lanes
        # every statement of the image's calls is a tick on the MySQL lane
        tick_ids = {i for r in svg.find_all("rect") if "tick" in r.classes() for i in r.attrs["data-sql-ids"].split()}
        want = {s for c in analysis["calls"] if c["id"] in im["calls"] for s in c["sql"]}
        assert want and want <= tick_ids


def test_timeline_bars_follow_time(analysis, tree):
    im = analysis["images"][0]
    svg = next(s for s in tree.root.find_all("svg", data_image_id=im["id"]) if "zoom" not in s.classes())
    width = float(svg.attrs["viewbox"].split()[2])
    calls = {c["id"]: c for c in analysis["calls"]}
    xs = []
    for g in svg.find_all("g"):
        if "call" in g.classes():
            rect = next(g.find_all("rect"))
            x, w = float(rect.attrs["x"]), float(rect.attrs["width"])
            assert 0 < x and x + w <= width
            xs.append((calls[g.attrs["data-call-id"]]["request_time"], x))
    xs.sort()
    assert [x for _, x in xs] == sorted(x for _, x in xs)
    # a failed upload is drawn as a 5xx bar, a finished one as 2xx
    bad = analysis["images"][1]
    svg_bad = next(s for s in tree.root.find_all("svg", data_image_id=bad["id"]) if "zoom" not in s.classes())
    upload = next(c for c in analysis["calls"] if c["image_id"] == bad["id"] and c["kind"] == "image-upload")
    g = next(g for g in svg_bad.find_all("g") if g.attrs.get("data-call-id") == upload["id"])
    assert "s5" in g.classes()


def test_findings_most_severe_first_with_filter_and_copy(analysis, tree):
    items = [n for n in tree.root.find_all("li") if "finding" in n.classes()]
    rank = {"error": 0, "warning": 1, "info": 2}
    by_id = {f["id"]: f for f in analysis["findings"]}
    got = [by_id[i.attrs["data-finding-id"]] for i in items]
    assert sorted(by_id) == sorted(f["id"] for f in got)
    assert [rank[f["severity"]] for f in got] == sorted(rank[f["severity"]] for f in got)
    anchors = {n.attrs["id"] for n in tree.root.find_all() if "id" in n.attrs}
    for li, f in zip(items, got):
        want = f["wireshark_filter"] or "frame.number in {" + " ".join(map(str, f["frames"])) + "}"
        (code,) = [c for c in li.find_all("code") if "wsfilter" in c.classes()]
        assert code.all_text() == want
        (btn,) = [b for b in li.find_all("button") if "copy" in b.classes()]
        assert btn.attrs["data-copy"] == want
        for fr in f["frames"]:
            assert str(fr) in li.all_text()
        assert f["message"] in li.all_text()
        links = {a.attrs.get("href") for a in li.find_all("a")}
        if f["image_id"]:
            idx = [im["id"] for im in analysis["images"]].index(f["image_id"])
            assert f"#image-{idx}" in links and f"image-{idx}" in anchors
        if f["call_id"]:
            idx = [c["id"] for c in analysis["calls"]].index(f["call_id"])
            assert any(a.attrs.get("data-call") == str(idx) for a in li.find_all("a"))


def test_calls_and_their_sql_travel_in_the_embedded_data(analysis, tree):
    data = embedded_data(tree)
    assert [c["id"] for c in data["calls"]] == [c["id"] for c in analysis["calls"]]
    sql_ids = {s["id"] for s in data["sql"]}
    for want, got in zip(analysis["calls"], data["calls"]):
        assert got["sql"] == want["sql"]
        assert set(got["sql"]) <= sql_ids
        for k in ("method", "uri", "status", "latency", "request_body_size", "response_body_size", "request_digests"):
            assert got[k] == want[k]
    assert data["sql_digest"] == analysis["sql_digest"]
    assert data["tokens"] == analysis["tokens"]
    assert data["tls_sessions"] == analysis["tls_sessions"]


def test_hostile_strings_stay_text(analysis, html, tree):
    # only our two script elements exist, and each closes once
    assert tree.start_tags.count("script") == 2
    assert html.lower().count("</script") == 2
    assert "alert(1)" in html  # it is there, as data...
    assert "<script>alert" not in html  # ...but never as markup
    assert "<img" not in html.lower() and "<b>x</b>" not in html
    assert "img" not in tree.start_tags
    # the hostile URI and image name come back exactly, from the JSON and from the text
    data = embedded_data(tree)
    assert HOSTILE_URI in [c["uri"] for c in data["calls"]]
    headings = [h.all_text() for h in tree.root.find_all("h3")]
    assert HOSTILE_NAME in headings
    assert "<!--" not in tree.root.find_all("script", id="gt-data").__next__().all_text()


def test_no_network_references(html, tree):
    net = re.compile(r"^\s*(https?:|//|ftp:|ws:|wss:)", re.I)
    for n in tree.root.find_all():
        for attr in ("src", "href", "xlink:href", "action", "srcset", "poster", "data", "formaction", "background"):
            v = n.attrs.get(attr)
            assert v is None or not net.match(v), (n.tag, attr, v)
    assert not {"link", "img", "iframe", "object", "embed", "audio", "video", "base"} & set(tree.start_tags)
    styles = " ".join(s.all_text() for s in tree.root.find_all("style"))
    assert "url(" not in styles and "@import" not in styles and "@font-face" not in styles
    scripts = " ".join(s.all_text() for s in tree.root.find_all("script") if s.attrs.get("id") != "gt-data")
    for api in ("fetch(", "XMLHttpRequest", "WebSocket", "import(", "sendBeacon", "EventSource"):
        assert api not in scripts
    csp = [m.attrs["content"] for m in tree.root.find_all("meta") if m.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]


def test_missing_and_null_keys_render():
    for a in ({}, {"images": None, "calls": None, "summary": None, "tool": None, "captures": None},
              {"images": [None, {"id": None, "transitions": None, "states": [{"status": None, "start": None}]},
                          {"id": "x", "transitions": [{"status": "saving", "time": "soon"}], "calls": ["nope"]}],
               "calls": [None, {"status": "abc", "request_time": float("nan"), "sql": ["missing"]},
                         {"id": "k", "service": "keystone", "request_time": 5.0}],
               "sql": [{"id": "s", "request_time": float("inf"), "status_change": {}}],
               "findings": [{"severity": None}, {"severity": "bogus", "frames": None}, {"severity": "error", "call_id": "k"}],
               "summary": {"skipped": {"x": "y"}, "gaps": None, "findings_by_severity": {"error": None}},
               "tls_sessions": [None, {"decrypted": None}]}):
        html = render_html(a)
        tree = parse(html)
        data = embedded_data(tree)  # strict JSON: NaN/inf became null
        assert isinstance(data["calls"], list)
        assert html.rstrip().endswith("</html>")


def test_findings_without_filter_get_one_from_frames():
    a = {"findings": [{"id": "f", "severity": "warning", "message": "m", "frames": [7, 9]}]}
    tree = parse(render_html(a))
    (code,) = [c for c in tree.root.find_all("code") if "wsfilter" in c.classes()]
    assert code.all_text() == "frame.number in {7 9}"


@pytest.mark.parametrize("value", ["</script><script>x()</script>", "<!-- <script>", "\u2028\u2029", "]]>", "&lt;"])
def test_script_json_is_safe_and_round_trips(value):
    text = script_json({"v": value, "n": math.nan})
    assert "<" not in text and ">" not in text and "\u2028" not in text and "&" not in text
    assert json.loads(text) == {"v": value, "n": None}


@pytest.fixture(scope="module")
def real_analysis():
    """The failures rig capture (empty upload, interrupted uploads, 403 delete...) through the real analysis."""
    return browser_data.real_analysis("failures")


def test_real_capture_report(real_analysis):
    a = real_analysis
    tree = parse(render_html(a))
    data = embedded_data(tree)
    assert [c["id"] for c in data["calls"]] == [c["id"] for c in a["calls"]]
    sql_ids = {s["id"] for s in data["sql"]}
    assert len(sql_ids) == len(a["sql"])
    for c in data["calls"]:
        assert set(c.get("sql") or []) <= sql_ids
    sections = {n.attrs["data-image-id"]: n for n in tree.root.find_all("section", data_image_id=True)}
    assert list(sections) == [im["id"] for im in a["images"]]
    for im in a["images"]:
        rows = [r for r in sections[im["id"]].find_all("tr") if "transition" in r.classes()]
        assert [r.attrs["data-status"] for r in rows] == [t["status"] for t in im["transitions"]]
        svgs = [s for s in sections[im["id"]].find_all("svg") if "timeline" in s.classes()]
        assert len([s for s in svgs if "zoom" not in s.classes()]) == 1
        # a zoomed view, where there is one, shows every status change
        for z in (s for s in svgs if "zoom" in s.classes()):
            markers = [g.attrs["data-status"] for g in z.find_all("g") if "marker" in g.classes()]
            assert markers == [t["status"] for t in im["transitions"]]
    items = [n for n in tree.root.find_all("li") if "finding" in n.classes()]
    assert len(items) == len(a["findings"]) > 0
    by_id = {f["id"]: f for f in a["findings"]}
    for li in items:
        f = by_id[li.attrs["data-finding-id"]]
        (code,) = [c for c in li.find_all("code") if "wsfilter" in c.classes()]
        assert code.all_text() == f["wireshark_filter"]
    # errors before warnings before info
    order = {"critical": 0, "error": 1, "warning": 2, "info": 3}
    sev = [order[by_id[li.attrs["data-finding-id"]]["severity"]] for li in items]
    assert sev == sorted(sev)
    header = " ".join(next(tree.root.find_all("section", id="overview")).all_text().split())
    assert "Ethernet" in header and f"{a['summary']['packets']:,}" in header
