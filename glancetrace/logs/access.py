"""Request logs of the WSGI servers: uWSGI's default request line, Apache's access log (Keystone under httpd).

    [pid: 951|app: 0|req: 5/17] 127.0.0.1 () {34 vars in 567 bytes} [Fri Nov 27 00:25:27 2026] GET /v3 =>
        generated 251 bytes in 20 msecs (HTTP/1.1 200) 5 headers in 184 bytes (1 switches on core 0)
    10.0.0.5 - - [03/Dec/2026:08:34:18 +0000] "POST /v3/auth/tokens HTTP/1.1" 201 7000 "-" "openstacksdk/4.22.0" 12345

uWSGI writes whole seconds in local time at the request's start; Apache writes its zone.
"""

from __future__ import annotations

import re

from .line_parser import LineParser
from .records import LogRequest
from .timeparse import clf_time, ctime_time

_UWSGI_HEAD = re.compile(r"\[pid: \d+\|app: -?\d+\|req: ")
_UWSGI = re.compile(r"\[pid: (\d+)\|app: -?\d+\|req: [-\d]+/\d+\] (\S+) \([^)]*\) \{\d+ vars in \d+ bytes\} "
                    r"\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\] (\S+) (\S+) => generated (\d+) bytes in (\d+) msecs "
                    r"\(HTTP/[\d.]+ (\d{3})\) \d+ headers in \d+ bytes \(\d+ switches on core \d+\)\s*$")
_APACHE = re.compile(r"(\S+) \S+ \S+ \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] \"(\S+) (\S+)(?: [^\"]*)?\" "
                     r"(\d{3}) (\d+|-)(?: \"[^\"]*\" \"[^\"]*\")?(?: (\d+))?\s*$")
_APACHE_HEAD = re.compile(r"\S+ \S+ \S+ \[\d\d/\w{3}/\d{4}:")


class UwsgiParser(LineParser):
    name = "uwsgi"
    LINE, SHAPE = _UWSGI, _UWSGI_HEAD  # other lines: uWSGI's banners, worker spawns, the app's stray output
    WHEN = re.compile(rb"\[\w{3} (\w{3}) +(\d+) (\d\d):\d\d:\d\d (\d{4})\] ")

    @classmethod
    def hour_of(cls, key: tuple) -> float:
        mon, day, hour, year = (k.decode("ascii") for k in key)
        return ctime_time(f"Mon {mon} {day} {hour}:00:00 {year}")

    def feed(self, line: str, number: int) -> list:
        m = self._read(line, number)
        t = self._time(ctime_time, m.group(3), number) if m else None
        if t is None:
            return []
        return self._emit([LogRequest(
            source="uwsgi", line=number, text=line, time=t, method=m.group(4), path=m.group(5),
            status=int(m.group(8)), bytes_out=int(m.group(6)), duration=int(m.group(7)) / 1000.0,
            client=m.group(2))])


class ApacheParser(LineParser):
    name = "apache"
    LINE, SHAPE = _APACHE, _APACHE_HEAD
    WHEN = re.compile(rb"\[(\d\d/\w{3}/\d{4}:\d\d):\d\d:\d\d( [+-]\d{4})?\]")

    @classmethod
    def hour_of(cls, key: tuple) -> float:
        return clf_time(key[0].decode("ascii") + ":00:00" + (key[1] or b"").decode("ascii"))

    def feed(self, line: str, number: int) -> list:
        m = self._read(line, number)
        t = self._time(clf_time, m.group(2), number) if m else None
        if t is None:
            return []
        size = m.group(6)
        dur = m.group(7)  # %D, microseconds, in TripleO's Keystone vhost format
        return self._emit([LogRequest(
            source="apache", line=number, text=line, time=t, method=m.group(3), path=m.group(4),
            status=int(m.group(5)), bytes_out=int(size) if size.isdigit() else None,
            duration=int(dur) / 1e6 if dur else None, client=m.group(1))])
