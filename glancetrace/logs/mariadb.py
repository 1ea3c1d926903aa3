"""MariaDB's error log: aborted and killed connections are what a capture can be joined to.

    2026-12-03  8:34:18 123 [Warning] Aborted connection 123 to db: 'glance' user: 'glance' host: '127.0.0.1'
        (Got an error reading communication packets)
    2026-12-03  8:34:18 124 [ERROR] mariadbd: Connection was killed

The number after the time is the thread that wrote the line: the connection itself, unless the message
names another (a KILL is logged by the killer's thread as "Aborted connection <victim>").
"""

from __future__ import annotations

import re

from .line_parser import LineParser
from .records import LogMessage
from .timeparse import iso_time

_LINE = re.compile(r"(\d{4}-\d\d-\d\d) +(\d{1,2}):(\d\d:\d\d(?:\.\d+)?) (\d+) \[(Note|Warning|ERROR|Error)\] (.*)$")
_CONN = re.compile(r"(?:Aborted connection|Killed connection|connection) (\d+)\b", re.I)
_LEVEL = {"Note": "INFO", "Warning": "WARNING", "ERROR": "ERROR", "Error": "ERROR"}


class MariadbErrorParser(LineParser):
    name = "mariadb"
    LINE = _LINE
    WHEN = re.compile(rb"\A(\d{4}-\d\d-\d\d) +(\d{1,2}):\d\d:\d\d ")

    @classmethod
    def hour_of(cls, key: tuple) -> float:
        return iso_time(f"{key[0].decode('ascii')} {int(key[1]):02d}:00:00")

    def feed(self, line: str, number: int) -> list:
        m = self._read(line, number)
        t = self._time(iso_time, f"{m.group(1)} {int(m.group(2)):02d}:{m.group(3)}", number) if m else None
        if t is None:
            return []
        msg = m.group(6)
        conn = _CONN.search(msg)
        thread = int(m.group(4))
        connection = int(conn.group(1)) if conn else thread if thread else None  # 0: the server itself
        return self._emit([LogMessage(source="mariadb", line=number, text=line, time=t, level=_LEVEL[m.group(5)],
                                      logger="mariadb", pid=None, message=msg, connection=connection)])
