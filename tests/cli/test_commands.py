"""The command line as a user runs it: outputs, schemas, exit statuses, bad input."""

import json
import subprocess
import sys

import pytest

from tests.support.loopback import tshark_fields
from tests.support.rig import capture, keys, truth


def run(*args, check_rc=None):
    p = subprocess.run([sys.executable, "-m", "glancetrace", *map(str, args)], capture_output=True, text=True)
    if check_rc is not None:
        assert p.returncode == check_rc, p.stderr
    return p


def test_http_json_schema_and_tshark_agree():
    cap = capture("plain_overcloud")
    rows = json.loads(run("http", cap, "--format", "json", "-q", check_rc=0).stdout)
    for key in ("method", "uri", "status", "request_time", "response_time", "client", "server",
                "request_frames", "response_frames", "request_body_size", "response_body_size", "incomplete"):
        assert all(key in r for r in rows), key
    oracle = tshark_fields(cap, "http.request", ["frame.number", "http.request.method", "http.request.uri"])
    ours = sorted((r["request_frames"][1], r["method"], r["uri"]) for r in rows if r["method"])
    assert [(int(f), m, u) for f, m, u in oracle] == ours


def test_sql_json_schema():
    rows = json.loads(run("sql", capture("failures"), "--format", "json", "-q", check_rc=0).stdout)
    # every statement MariaDB logged during the capture, and the pool's pings besides
    queries = [r for r in rows if r["command"] == "COM_QUERY"]
    assert len(queries) == truth("failures")["sql"]["statements_total_COM_QUERY"]
    for key in ("command", "sql", "request_time", "response_time", "latency", "result", "affected_rows", "rows",
                "error_code", "error_message", "client", "server", "request_frames", "response_frames"):
        assert all(key in r for r in rows), key
    assert {r["command"] for r in rows} >= {"COM_QUERY"}


def test_sql_digest_csv():
    p = run("sql", capture("plain_overcloud"), "--digest", "--format", "csv", "-q", check_rc=0)
    import csv
    import io
    rows = list(csv.DictReader(io.StringIO(p.stdout)))
    assert rows and "fingerprint" in rows[0]
    stmts = json.loads(run("sql", capture("plain_overcloud"), "--format", "json", "-q", check_rc=0).stdout)
    assert sum(int(r["count"]) for r in rows) == len(stmts)
    assert len({r["fingerprint"] for r in rows}) == len(rows)


def test_images_json_schema_matches_truth():
    out = json.loads(run("images", capture("failures"), "--format", "json", "-q", check_rc=0).stdout)
    real = {im["id"]: im for im in truth("failures")["images"]}
    assert {im["id"] for im in out} == set(real)
    for im in out:
        for key in ("id", "name", "final_status", "size", "checksum", "os_hash_value", "transitions", "calls",
                    "findings"):
            assert key in im
        assert im["final_status"] == real[im["id"]]["status"]
        for t in im["transitions"]:
            assert {"status", "time", "source", "frames"} <= set(t)
        for c in im["calls"]:
            assert {"method", "uri", "status", "sql"} <= set(c)
        for f in im["findings"]:
            assert f["severity"] in ("error", "warning", "info") and f["message"] and "frames" in f


def test_report_html_and_fail_on(tmp_path):
    out = tmp_path / "r.html"
    p = run("report", capture("failures"), "-o", out, "--fail-on", "error")
    assert p.returncode == 1, p.stderr  # the capture holds interrupted uploads
    assert out.exists() and "interrupted-upload" in out.read_text()
    assert "Report written to" in p.stderr
    p = run("report", capture("plain_overcloud"), "-o", tmp_path / "p.html", "--fail-on", "error", "-q")
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""


def test_report_json_is_the_whole_analysis():
    cap = capture("tls_overcloud")
    doc = json.loads(run("report", cap, "--keylog", keys("tls_overcloud"), "--format", "json", "-q",
                         check_rc=0).stdout)
    assert {"tool", "captures", "summary", "images", "calls", "sql", "findings", "tls_sessions"} <= set(doc)
    assert doc["summary"]["decrypted_connections"] > 0


def test_secrets_are_redacted_by_default(tmp_path):
    token = next(a.split(": ", 1)[1] for c in truth("failures")["client_commands"] for a in c["argv"]
                 if a.startswith("X-Auth-Token: "))
    html = tmp_path / "r.html"
    run("report", capture("failures"), "-o", html, "-q")
    for fmt_args in (["http", "--format", "json"], ["report", "--format", "json"]):
        out = run(fmt_args[0], capture("failures"), *fmt_args[1:], "-q").stdout
        assert token not in out and token[:40] not in out
    assert token[:40] not in html.read_text()
    shown = run("http", capture("failures"), "--format", "json", "-q", "--show-secrets")
    assert token in shown.stdout
    assert "show-secrets" not in shown.stderr  # -q silences the warning …
    assert "holds tokens" in run("http", capture("failures"), "--format", "csv", "--show-secrets").stderr


@pytest.mark.parametrize("content,what", [
    (b"", "empty"),
    (b"hello, this is a text file\n" * 10, "unknown magic"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "cut short"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, content, what):
    f = tmp_path / "bad.pcap"
    f.write_bytes(content)
    for cmd in ("report", "http", "sql", "images", "split"):
        extra = [tmp_path / "out.pcap", "-c", "10"] if cmd == "split" else []
        p = run(cmd, f, *extra)
        assert p.returncode == 2, (cmd, p.stderr)
        assert "Traceback" not in p.stderr
        assert 1 <= len(p.stderr.strip().splitlines()) <= 3, p.stderr


def test_missing_file_and_bad_arguments():
    p = run("report", "/nonexistent/x.pcap")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    p = run("report", capture("failures"), "--offset", "nonsense")
    assert p.returncode == 2 and "FILE=SECONDS" in p.stderr
