"""The log parsers on the rig's real logs: every file recognised, every request line read, the counts
agreeing with what the rig's truth says; damaged copies of the same files are counted and skipped."""

from __future__ import annotations

import gzip
import random
import re
from collections import Counter

import pytest

from glancetrace.logs.reader import LogScan, NotALog, detect
from tests.support import riglogs

pytestmark = pytest.mark.skipif(not riglogs.SCENARIOS, reason="tests/fixtures/rig-logs missing")
SCENARIOS = riglogs.SCENARIOS


def records(path: str, fmt: str | None = None):
    scan = LogScan(path, fmt or detect(path))
    return list(scan), scan.stats


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", list(riglogs.LOGS))
def test_each_real_log_is_recognised(scenario, name):
    assert detect(riglogs.path(scenario, name)) == riglogs.LOGS[name]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_haproxy_lines_agree_with_truth(scenario):
    want = riglogs.truth(scenario)["http_requests"]["server_logs_by_port"]
    recs, stats = records(riglogs.path(scenario, "haproxy"))
    assert stats.garbled == 0
    port = {"keystone_public~": "13000", "glance_api~": "13292"}
    # haproxy writes -1 when the server closed without an answer (the upload into the full store)
    got = Counter(f"{port[r.frontend]} {r.status}" for r in recs if r.status is not None)
    assert dict(got) == want["haproxy_by_port_status"]
    assert all(r.method == "PUT" and " SD-- " in r.text for r in recs if r.status is None)
    for r in recs:
        assert re.fullmatch(r"127\.0\.0\.1:\d+", r.client) and r.method and r.path.startswith("/")
        assert len(r.timers) == 5 and r.duration is not None and r.duration >= 0


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name,port", [("glance_uwsgi", "9292"), ("keystone_uwsgi", "5000")])
def test_uwsgi_lines_agree_with_truth(scenario, name, port):
    want = riglogs.truth(scenario)["http_requests"]["server_logs_by_port"][port]
    recs, stats = records(riglogs.path(scenario, name))
    assert stats.garbled == 0
    assert len(recs) == want["requests"]
    assert dict(Counter(f"{r.method} {r.status}" for r in recs)) == want["by_method_status"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_client_debug_requests_agree_with_truth(scenario):
    want = Counter()
    for line in riglogs.truth(scenario)["http_requests"]["client_debug_requests"]:
        m = re.match(r"^(\w+) (https?://\S+) -> (\d+)$", line)
        if m:
            want[(m.group(1), m.group(2).rstrip("/"), int(m.group(3)))] += 1
    recs, _ = records(riglogs.path(scenario, "client-debug"))
    got = Counter((r.method, f"{'https' if r.port in (13000, 13292) else 'http'}://{r.host}:{r.port}{r.path}"
                   .rstrip("/"), r.status) for r in recs if r.status is not None)
    assert got == want
    # a request the client logged and never got an answer to (tls_failures: the upload into the full store)
    assert all(r.method == "PUT" for r in recs if r.status is None)
    assert all(r.request_id is None or r.request_id.startswith("req-") for r in recs)
    assert not any("{SHA256}" in r.text or "password" in r.text for r in recs)  # only the request line is kept


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("name", ["glance_api", "keystone"])
def test_oslo_records_have_levels_and_request_ids(scenario, name):
    recs, stats = records(riglogs.path(scenario, name))
    assert stats.garbled == 0
    assert stats.records == len(recs)
    assert all(r.level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL") for r in recs)
    assert all(r.logger.startswith(("glance", "keystone", "oslo", "keystonemiddleware", "py.warnings", "stevedore"))
               or r.logger for r in recs)


def test_oslo_traceback_last_line_is_the_exception(tmp_path):
    """Glance's real ERROR line (tls_failures: the store is full), followed by a traceback written the way
    oslo.log writes one (its exception prefix on every line, no request context), then the next record."""
    src = riglogs.lines("tls_failures", "glance_api")
    i = next(i for i, line in enumerate(src) if " ERROR " in line)
    prefix = src[i].split(" [", 1)[0]
    tb = [f"{prefix} Traceback (most recent call last):",
          f'{prefix}   File "/usr/lib/python3/glance_store/_drivers/filesystem.py", line 797, in add',
          f"{prefix}     f.write(buf)",
          f"{prefix} OSError: [Errno 28] No space left on device",
          f"{prefix} "]
    lines = src[: i + 1] + tb + src[i + 1:]
    recs, stats = records(riglogs.write(tmp_path, "glance-api.log", lines), "oslo")
    assert stats.garbled == 0 and len(recs) == len(records(riglogs.path("tls_failures", "glance_api"))[0])
    err = next(r for r in recs if r.level == "ERROR")
    assert err.request_id and err.request_id.startswith("req-")
    assert err.exception == "OSError: [Errno 28] No space left on device"
    assert len(err.traceback) == 4 and "HTTPRequestEntityTooLarge" in err.message
    assert all(not r.traceback for r in recs if r is not err)


@pytest.mark.parametrize("name", ["haproxy", "glance_uwsgi", "keystone_uwsgi"])
def test_cut_and_garbled_lines_are_counted_and_skipped(tmp_path, name):
    """Lines cut short or with bytes overwritten inside them are counted, the others still read."""
    src = riglogs.lines("tls_overcloud", name)
    good, base = records(riglogs.path("tls_overcloud", name))
    rng = random.Random(7)
    fmt = riglogs.LOGS[name]
    request_lines = [i for i, line in enumerate(src) if _parses(line, fmt)]
    damaged = set(rng.sample(request_lines, min(5, len(request_lines))))
    out = []
    for i, line in enumerate(src):
        if i in damaged:
            cut = rng.randrange(len(line) // 2, len(line) - 2)  # past the line's start: still its shape
            line = line[:cut] if i % 2 else line[:cut] + "\x00\ufffd" + line[cut + 2:][:3]
        out.append(line)
    recs, stats = records(riglogs.write(tmp_path, name + ".log", out), fmt)
    assert stats.garbled == len(damaged)
    assert len(recs) == len(good) - len(damaged)
    assert stats.lines == base.lines


def _parses(line: str, fmt: str) -> bool:
    from glancetrace.logs.reader import PARSERS
    return bool(PARSERS[fmt]().feed(line, 1))


def test_gzip_cut_short_reads_what_is_there(tmp_path):
    data = open(riglogs.path("tls_overcloud", "haproxy"), "rb").read()
    p = tmp_path / "haproxy.log.gz"
    p.write_bytes(data[: len(data) * 2 // 3])
    recs, stats = records(str(p), "haproxy")
    whole, _ = records(riglogs.path("tls_overcloud", "haproxy"))
    assert 0 < len(recs) < len(whole)
    assert stats.garbled >= 1


@pytest.mark.parametrize("make", ["readme", "tsv", "pcap", "empty", "binary"])
def test_a_file_that_is_no_log_is_refused_naming_it(tmp_path, make):
    root = riglogs.ROOT.parent.parent.parent
    p = tmp_path / f"thing-{make}"
    if make == "readme":
        p.write_text((root / "README.md").read_text())
    elif make == "tsv":
        p.write_bytes(gzip.open(root / "tests/fixtures/rig/failures/mysql-general.tsv.gz").read())
    elif make == "pcap":
        p.write_bytes(open(riglogs.path("tls_overcloud", "capture.pcap"), "rb").read()[:200000])
    elif make == "binary":
        p.write_bytes(bytes(random.Random(1).randbytes(50000)))
    else:
        p.write_text("")
    with pytest.raises(NotALog) as e:
        detect(str(p))
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_haproxy_behind_a_syslog_prefix_as_tripleo_writes_it(tmp_path):
    src = riglogs.lines("tls_overcloud", "haproxy")
    tripleo = [f"Dec  3 12:08:01 controller-0 haproxy[7]: {line}" for line in src]
    path = riglogs.write(tmp_path, "haproxy.log", tripleo)
    assert detect(path) == "haproxy"
    recs, stats = records(path)
    want, _ = records(riglogs.path("tls_overcloud", "haproxy"))
    assert stats.garbled == 0
    assert [(r.client, r.time, r.method, r.path, r.status) for r in recs] == \
        [(r.client, r.time, r.method, r.path, r.status) for r in want]


def test_apache_access_log_of_keystone_under_httpd(tmp_path):
    """Keystone's requests (from the real uWSGI log) written as TripleO's httpd vhost logs them, zone +0100."""
    import datetime as dt
    src, _ = records(riglogs.path("tls_overcloud", "keystone_uwsgi"))
    out = []
    for r in src:
        local = dt.datetime.fromtimestamp(r.time + 3600, dt.timezone.utc).strftime("%d/%b/%Y:%H:%M:%S +0100")
        out.append(f'{r.client} - - [{local}] "{r.method} {r.path} HTTP/1.1" {r.status} {r.bytes_out} "-" '
                   f'"openstacksdk/4.22.0" {int(r.duration * 1e6)}')
    path = riglogs.write(tmp_path, "keystone_wsgi_access.log", out)
    assert detect(path) == "apache"
    recs, stats = records(path)
    assert stats.garbled == 0
    assert [(r.time, r.method, r.path, r.status) for r in recs] == [(r.time, r.method, r.path, r.status) for r in src]


def test_long_junk_lines_are_garbled_not_slow(tmp_path):
    """A real log with a megabyte of junk without newlines in the middle: counted as garbled, the rest read
    (the regexes never see a line over 16 KiB, nor is it held whole: it is one garbled line)."""
    src = riglogs.lines("tls_overcloud", "haproxy")
    junk = "7" * (1 << 20)
    path = riglogs.write(tmp_path, "haproxy.log", src[:5] + [junk] + src[5:])
    assert detect(path) == "haproxy"
    recs, stats = records(path)
    assert len(recs) == len(src) and stats.garbled == 1 and stats.garbled_examples == [6]
    assert stats.lines == len(src) + 1
