"""`--log/--logs/--log-offset/--log-format` on `report`, `images` and `http`, as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter

import pytest

from tests.support import riglogs

pytestmark = pytest.mark.skipif(not riglogs.SCENARIOS, reason="tests/fixtures/rig-logs missing")
S = "tls_overcloud"


def run(*args):
    return subprocess.run([sys.executable, "-m", "glancetrace", *map(str, args)], capture_output=True, text=True)


def test_logs_dir_like_a_sosreport(tmp_path):
    """A directory with the logs among other files: the logs are read, the others skipped and counted."""
    d = tmp_path / "sosreport" / "var" / "log"
    d.mkdir(parents=True)
    for name in ("haproxy", "glance_api", "keystone_uwsgi"):
        shutil.copy(riglogs.path(S, name), d / f"{name}.log.gz")
    (d / "dmesg").write_text("[    0.000000] Linux version 6.1.0\n" * 20)
    (d / "notes.txt").write_text("nothing to see\n")
    p = run("report", riglogs.path(S, "capture.pcap"), "--logs", tmp_path / "sosreport", "--format", "json")
    assert p.returncode == 0, p.stderr
    assert "2 file(s) not recognised as logs, skipped" in p.stderr
    doc = json.loads(p.stdout)
    assert sorted(f["format"] for f in doc["logs"]["files"]) == ["haproxy", "oslo", "uwsgi"]
    assert doc["logs"]["calls_seen_in"]["log"] > 0
    assert "Traceback" not in p.stderr


def test_log_that_is_no_log_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "capture-notes.txt"
    bad.write_text("the customer says the upload hung around noon\n" * 5)
    p = run("report", riglogs.path(S, "capture.pcap"), "--log", bad, "-o", tmp_path / "r.html")
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and str(bad) in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "r.html").exists()


def test_log_offset_and_format_options(tmp_path):
    log = riglogs.path(S, "haproxy")
    p = run("report", riglogs.path(S, "capture.pcap"), "--log", log, "--log-offset", f"{log}=0.5",
            "--log-format", "haproxy", "--format", "json", "-q")
    assert p.returncode == 0, p.stderr
    f = json.loads(p.stdout)["logs"]["files"][0]
    assert (f["offset_how"], f["offset"], f["format"]) == ("given", 0.5, "haproxy")
    p = run("report", riglogs.path(S, "capture.pcap"), "--log", log, "--log-offset", "nonsense", "-q")
    assert p.returncode == 2 and "FILE=SECONDS" in p.stderr
    p = run("report", riglogs.path(S, "capture.pcap"), "--log", log, "--log-format", "syslog", "-q")
    assert p.returncode == 2 and "haproxy" in p.stderr


def test_html_report_with_logs_holds_no_secret(tmp_path):
    out = tmp_path / "r.html"
    logs = [a for n in riglogs.LOGS for a in ("--log", riglogs.path(S, n))]
    p = run("report", riglogs.path(S, "capture.pcap"), *logs, "-o", out, "-q")
    assert p.returncode == 0, p.stderr
    html = out.read_text()
    assert '"seen_in"' in html or "seen_in" in html
    assert "adminpw" not in html and "glancesvcpw" not in html


def _tls_calls(rows) -> Counter:
    return Counter((r["server"].rsplit(":", 1)[1], r["method"], r["uri"], r["status"]) for r in rows
                   if r["server"].endswith((":13000", ":13292")))


def test_http_without_keys_lists_the_tls_calls_from_the_haproxy_log():
    """`http` with the haproxy log and no keys: the 13000/13292 calls as the keys would show them, marked as
    coming from the log; with keys, the same calls seen in both; a summary line on stderr."""
    cap, log = riglogs.path(S, "capture.pcap"), riglogs.path(S, "haproxy")
    keyed = run("http", cap, "--keylog", riglogs.path(S, "capture.keys"), "--format", "json", "-q")
    logged = run("http", cap, "--log", log, "--format", "json")
    assert keyed.returncode == 0 and logged.returncode == 0, logged.stderr
    want, rows = _tls_calls(json.loads(keyed.stdout)), json.loads(logged.stdout)
    assert sum(want.values()) >= 20 and _tls_calls(rows) == want
    tls = [r for r in rows if r["server"].endswith((":13000", ":13292"))]
    assert all(r["seen_in"] == "log" and r["log_lines"][0]["source"] == "haproxy" for r in tls)
    assert all("from the haproxy log" in " ".join(r["notes"]) for r in tls)
    # the backend hop haproxy opened for each line: packets and log; services' own calls to 5000: packets
    backend = Counter(r["seen_in"] for r in rows if r["server"].endswith((":5000", ":9292")))
    assert backend["both"] >= len(tls) and set(backend) <= {"both", "packets"}
    assert "calls seen in a log only 37" in logged.stderr and logged.stderr.count("\n") == 1
    both = json.loads(run("http", cap, "--keylog", riglogs.path(S, "capture.keys"), "--log", log,
                          "--format", "json", "-q").stdout)
    assert _tls_calls(both) == want and {r["seen_in"] for r in both if r["tls"]} == {"both"}
    table = run("http", cap, "--log", log, "-q")
    assert table.returncode == 0 and "seen in the log only" in table.stdout
    csv_ = run("http", cap, "--log", log, "--format", "csv", "-q")
    assert csv_.returncode == 0 and "seen_in" in csv_.stdout.splitlines()[0]


def test_images_with_logs_as_report_joins_them(tmp_path):
    cap = riglogs.path(S, "capture.pcap")
    logs = [a for n in ("haproxy", "glance_api", "glance_uwsgi") for a in ("--log", riglogs.path(S, n))]
    imgs = run("images", cap, *logs, "--format", "json", "-q")
    rep = run("report", cap, *logs, "--format", "json", "-q")
    assert imgs.returncode == 0 and rep.returncode == 0, imgs.stderr
    images, doc = json.loads(imgs.stdout), json.loads(rep.stdout)
    calls = {c["id"]: c for c in doc["calls"]}
    got = [(c["id"], c["seen_in"], len(c["log_lines"])) for im in images for c in im["calls"]]
    assert got and got == [(c, calls[c]["seen_in"], len(calls[c]["log_lines"])) for im in doc["images"]
                           for c in im["calls"]]
    assert {s for _, s, _ in got} == {"log"}  # no keys: the images' calls are the frontend's, which the log told
    table = run("images", cap, *logs)
    assert table.returncode == 0 and "logs: 3 file(s)" in table.stderr


def test_http_and_images_refuse_a_log_that_is_no_log_in_one_line(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("the customer says the upload hung around noon\n" * 5)
    for cmd in ("http", "images"):
        p = run(cmd, riglogs.path(S, "capture.pcap"), "--log", bad)
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and str(bad) in p.stderr, p.stderr
