"""`glancetrace report --log/--logs/--log-offset/--log-format` as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

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
