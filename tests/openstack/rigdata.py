"""Access to the real rig recordings (Keystone + Glance + MariaDB behind haproxy) used by these tests.

Looks in tests/fixtures/rig/<scenario>/ first, then in /work/rig-out (where the rig writes them).
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import pathlib
import re
import shlex
from dataclasses import dataclass
from urllib.parse import urlsplit

from glancetrace.protocols.http.events import BodyInfo, HttpTransaction

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "rig"
RIG_OUT = pathlib.Path(os.environ.get("GLANCETRACE_RIG_OUT", "/work/rig-out"))

_NAMES = {"pcap": "capture.pcap"}


def scenarios() -> list[str]:
    found = set()
    if FIXTURES.is_dir():
        found |= {p.name for p in FIXTURES.iterdir() if (p / "truth.json").is_file()}
    if RIG_OUT.is_dir() and not found:
        found |= {p.name[: -len(".truth.json")] for p in RIG_OUT.glob("*.truth.json")}
    return sorted(found)


def path(scenario: str, name: str) -> pathlib.Path | None:
    """name like 'truth.json', 'mysql-general.tsv', 'client-debug.log', 'pcap'."""
    for p in (FIXTURES / scenario / _NAMES.get(name, name), RIG_OUT / f"{scenario}.{name}"):
        for q in (p, p.with_name(p.name + ".gz")):
            if q.is_file():
                return q
    return None


def open_text(p: pathlib.Path):
    if p.suffix == ".gz":
        return gzip.open(p, "rt", encoding="utf-8", errors="replace")
    return open(p, encoding="utf-8", errors="replace")


def truth(scenario: str) -> dict:
    return json.loads(path(scenario, "truth.json").read_text())


_ESC = re.compile(r"\\(.)")
_ESC_MAP = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "0": "\0"}


def _unescape(s: str) -> str:
    return _ESC.sub(lambda m: _ESC_MAP.get(m.group(1), "\\" + m.group(1)), s)


@dataclass
class GeneralLogRow:
    time: str
    thread_id: int
    user_host: str
    command: str
    argument: str


@functools.lru_cache(maxsize=None)
def general_log(scenario: str) -> tuple[GeneralLogRow, ...]:
    """MariaDB's general query log rows (the rig's TSV export, newlines escaped)."""
    out = []
    with open_text(path(scenario, "mysql-general.tsv")) as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t", 4)
            if len(parts) < 5:
                continue
            out.append(GeneralLogRow(parts[0], int(parts[1]), parts[2], parts[3], _unescape(parts[4])))
    return tuple(out)


# ---------------------------------------------------------------- client --debug log → HttpTransaction
_REQ = re.compile(r"^(?:DEBUG:keystoneauth\.session:)?REQ: (curl .*)$")
_STATUS = re.compile(r'^(?:DEBUG:urllib3\.connectionpool:)?(https?://[^ ]+) "(\w+) (\S+) HTTP/1\.1" (\d+) (\d+|None)')
_RESP = re.compile(r"^(?:DEBUG:keystoneauth\.session:)?RESP: \[(\d+)\] (.*)$")
_RESP_BODY = re.compile(r"^(?:DEBUG:keystoneauth\.session:)?RESP BODY: (.*)$")


def _json_or_none(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


def _body(text: str | None, ctype: str = "application/json") -> BodyInfo:
    if text is None:
        return BodyInfo()
    raw = text.encode()
    j = _json_or_none(text)
    return BodyInfo(size=len(raw), wire_size=len(raw), content_type=ctype, text=raw, json=j)


def _resp_headers(s: str) -> list[tuple[str, str]]:
    # "Content-Length: 249 Content-Type: application/json Vary: X-Auth-Token x-openstack-request-id: req-…"
    parts = re.split(r"(?:^| )([A-Za-z][\w-]*): ", s)
    out = []
    for i in range(1, len(parts) - 1, 2):
        out.append((parts[i], parts[i + 1].strip()))
    return out


def client_transactions(scenario: str) -> list[HttpTransaction]:
    """The requests the CLI logged with --debug (method, URL, headers, JSON bodies, status, response body).

    Only what keystoneauth prints is there: hashed tokens ({SHA256}…), no upload bytes.
    """
    txs: list[HttpTransaction] = []
    pending_req: tuple[str, str, list, str | None] | None = None
    cur: HttpTransaction | None = None
    expect_token_body = False
    with open_text(path(scenario, "client-debug.log")) as f:
        for line in f:
            line = line.rstrip("\n")
            m = _REQ.match(line)
            if m:
                try:
                    argv = shlex.split(m.group(1))
                except ValueError:
                    continue
                method, url, headers, data = "GET", None, [], None
                i = 0
                while i < len(argv):
                    a = argv[i]
                    if a == "-X":
                        method = argv[i + 1]; i += 1
                    elif a == "-H":
                        k, _, v = argv[i + 1].partition(":"); headers.append((k.strip(), v.strip())); i += 1
                    elif a == "-d":
                        data = argv[i + 1]; i += 1
                    elif a.startswith("http"):
                        url = a
                    i += 1
                pending_req = (method, url, headers, data)
                continue
            m = _STATUS.match(line)
            if m:
                base, method, target, status = m.group(1), m.group(2), m.group(3), int(m.group(4))
                u = urlsplit(base)
                port = u.port or (443 if u.scheme == "https" else 80)
                headers, data = [], None
                if pending_req and pending_req[0] == method:
                    headers, data = pending_req[2], pending_req[3]
                ctype = next((v for k, v in headers if k.lower() == "content-type"), "")
                cur = HttpTransaction(
                    conn_id=len(txs), client="127.0.0.1:0", server=f"{u.hostname}:{port}", method=method,
                    uri=target, version="HTTP/1.1", request_headers=headers,
                    request_body=_body(data, ctype) if data and not data.startswith("<") else BodyInfo(),
                    status=status, tls=u.scheme == "https",
                    # python-glanceclient logs through logging (DEBUG:… prefix); the rig's truth skips those lines
                    notes=["glanceclient-log"] if line.startswith("DEBUG:") else [],
                )
                txs.append(cur)
                pending_req = None
                # keystoneauth logs the token response body bare on the next line
                expect_token_body = method == "POST" and target.endswith("/auth/tokens")
                continue
            if cur is not None:
                m = _RESP.match(line)
                if m:
                    cur.response_headers = _resp_headers(m.group(2))
                    ct = cur.header("content-type", response=True) or ""
                    cur.response_body.content_type = ct
                    continue
                m = _RESP_BODY.match(line)
                if m:
                    text = m.group(1)
                    if not text.startswith("Omitted"):
                        b = _body(text, cur.response_body.content_type or "application/json")
                        cur.response_body = b
                    continue
                if expect_token_body and line.startswith("{"):
                    cur.response_body = _body(line)
                    expect_token_body = False
    return txs
