"""haproxy's HTTP log (`option httplog`, also behind a syslog or journald prefix, as TripleO writes it).

    127.0.0.1:53290 [27/Nov/2026:00:25:27.700] keystone_public~ keystone_public_be/keystone
        0/0/0/24/24 200 422 - - ---- 1/1/0/0/0 0/0 "GET /v3 HTTP/1.1"

Client address and port, the time the request arrived, frontend (`~`: TLS), backend/server,
timers TR/Tw/Tc/Tr/Ta in ms (four timers in haproxy before 1.9), status, bytes to the client,
the termination state and the request line.
"""

from __future__ import annotations

import re

from .line_parser import LineParser
from .records import LogRequest
from .timeparse import clf_time

# bounded address: a search over a long line of junk stays linear
_HEAD = re.compile(r"(?<!\S)([\w.:\[\]-]{1,64}):(\d{1,5}) \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d(?:\.\d+)?)\] ")
_HTTP = re.compile(
    r"(\S+) ([^/\s]+)/(\S+) (-?\+?\d+(?:/-?\+?\d+){3,4}) (-?\d+) \+?(\d+) \S+ \S+ (\S{4}) \S+ \S+"
    r"(?: \{[^}]*\})* \"([^\"]*)\"\s*$")
# connection-level lines: TCP-mode (tcplog) and TLS handshake failures carry no request
_NOT_REQUEST = re.compile(r"\S+ \S+/\S+ -?\d+/-?\d+/\+?-?\d+ \+?\d+ \S{2,4} |\S+: SSL handshake failure|"
                          r"\S+: (?:Connection|Timeout|Received)")


class HaproxyParser(LineParser):
    name = "haproxy"
    WHEN = re.compile(rb"\[(\d\d/\w{3}/\d{4}:\d\d):\d\d:\d\d")

    @classmethod
    def hour_of(cls, key: tuple) -> float:
        return clf_time(key[0].decode("ascii") + ":00:00")

    @classmethod
    def looks_like(cls, line: str) -> bool:
        m = _HEAD.search(line)
        return bool(m and (_HTTP.match(line, m.end()) or _NOT_REQUEST.match(line, m.end())))

    def feed(self, line: str, number: int) -> list:
        self.stats.lines += 1
        head = _HEAD.search(line)
        if head is None:
            self.stats.other += 1
            return []
        m = _HTTP.match(line, head.end())
        if m is None:
            if _NOT_REQUEST.match(line, head.end()):
                self.stats.other += 1
            else:
                self.stats.bad(number)
            return []
        ip, port, when = head.groups()
        t = self._time(clf_time, when, number)
        if t is None:
            return []
        frontend, backend, server, timers, status, size, _, request = m.groups()
        timers = tuple(map(int, timers.replace("+", "").split("/")))
        method, target = _request_line(request)
        status = int(status)
        total = timers[-1]
        self.stats.records += 1
        return [LogRequest(
            source="haproxy", line=number, text=line[head.start():], time=t, method=method, path=target,
            status=status if status > 0 else None, bytes_out=int(size),
            duration=total / 1000.0 if total >= 0 else None, client=f"{ip}:{port}",
            frontend=frontend, backend=backend, server=server, timers=timers)]


def _request_line(req: str) -> tuple[str | None, str | None]:
    parts = req.split(" ")
    if len(parts) >= 2 and parts[0].isalpha() and parts[0].isupper():
        return parts[0], parts[1]
    return None, None  # "<BADREQ>", an empty request
