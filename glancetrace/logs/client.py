"""keystoneauth's --debug output (openstack, glance, any SDK client): the requests the client made.

    REQ: curl -g -i --cacert "…" -X POST https://127.0.0.1:13292/v2/images -H "X-Auth-Token: {SHA256}…" -d '{…}'
    RESP: [201] content-length: 775 … x-openstack-request-id: req-07295fd0-…
    RESP BODY: {…}

Lines carry no time: they are joined to the capture by request id, else in order.  Only the
method, URL, status and request id are kept (headers and bodies hold tokens and passwords).
"""

from __future__ import annotations

import re
import shlex
from urllib.parse import urlsplit

from .line_parser import LineParser
from .oslo import REQUEST_ID
from .records import LogRequest

_REQ = re.compile(r"^(?:\S+ )?(?:DEBUG:keystoneauth\.session:)?REQ: (curl .*)$")
# urllib3's line for every request; alone (no REQ: before it) for the password auth, whose body keystoneauth hides
_URLLIB3 = re.compile(r'^(?:\S+ )?(?:DEBUG:urllib3\.connectionpool:)?(https?://\S+) "(\w+) (\S+) HTTP/[\d.]+" (\d{3}) ')
_RESP = re.compile(r"^(?:\S+ )?(?:DEBUG:keystoneauth\.session:)?RESP: \[(\d{3})\] ?(.*)$")


class ClientDebugParser(LineParser):
    name = "client"

    def __init__(self) -> None:
        super().__init__()
        self.pending: LogRequest | None = None

    @classmethod
    def looks_like(cls, line: str) -> bool:
        return _REQ.match(line) is not None or _RESP.match(line) is not None

    def feed(self, line: str, number: int) -> list:
        self.stats.lines += 1
        m = _REQ.match(line)
        if m:
            out = self.close()
            self.pending = _request(m.group(1), number)
            if self.pending is None:
                self.stats.bad(number)
            return out
        m = _RESP.match(line)
        if m is None:
            u = _URLLIB3.match(line)
            if u is not None and self.pending is None:
                req = _request(f"curl -X {u.group(2)} {u.group(1)}{u.group(3)}", number)
                if req is not None:
                    req.status = int(u.group(4))
                    return self._emit([req])
            self.stats.other += 1
            return []
        req, self.pending = self.pending, None
        if req is None:
            self.stats.bad(number)  # a response whose request line is missing or was unreadable
            return []
        req.status = int(m.group(1))
        rid = REQUEST_ID.search(m.group(2))
        req.request_id = rid.group(0) if rid else None
        return self._emit([req])

    def close(self) -> list:
        req, self.pending = self.pending, None
        return self._emit([req]) if req is not None else []  # no response logged: the client gave up


def _request(curl: str, number: int) -> LogRequest | None:
    try:
        argv = shlex.split(curl)
    except ValueError:  # an unbalanced quote: the line was cut
        return None
    method, url = "GET", None
    it = iter(range(len(argv)))
    for i in it:
        a = argv[i]
        if a == "-X" and i + 1 < len(argv):
            method = argv[i + 1]
            next(it, None)
        elif a in ("-H", "-d", "--cacert", "--cert", "--key"):
            next(it, None)
        elif a.startswith(("http://", "https://")):
            url = a
    if url is None:
        return None
    try:
        u = urlsplit(url)
        port = u.port or (443 if u.scheme == "https" else 80)
    except ValueError:
        return None
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    # the line itself holds the token hash and the password JSON: only the request is kept
    return LogRequest(source="client", line=number, text=f"REQ: {method} {url}", time=None, method=method, path=path, status=None,
                      port=port, host=u.hostname)
