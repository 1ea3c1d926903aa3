"""MariaDB's and MySQL's slow query log: each statement with the time the server spent on it.

    # Time: 261203 14:52:03                                   (MariaDB, local time; MySQL: 2026-12-03T14:52:03.123456Z)
    # User@Host: glance[glance] @  [127.0.0.1]                (MySQL adds "Id:     8", the connection id)
    # Thread_id: 5  Schema: glance  QC_hit: No                 (MariaDB)
    # Query_time: 0.306371  Lock_time: 0.000103  Rows_sent: 1  Rows_examined: 1
    # Rows_affected: 0  Bytes_sent: 105                        (and, with log_slow_verbosity, plans and explains)
    use `glance`;
    SET timestamp=1796309523;
    SELECT SLEEP(0.3), name
    FROM t
    WHERE id = 1;

`# Time:` is written only when the second changes, so a record starts at `# User@Host:`; its time is
`SET timestamp=` (the statement's start, whole epoch seconds: no time zone to guess) or MySQL's
`Start:` (log_slow_extra), else `# Time:`.  The statement runs to the next record.
"""

from __future__ import annotations

import re

from .line_parser import LineParser
from .records import LogSlowQuery
from .timeparse import iso_time

_USER_HOST = re.compile(r"# User@Host: ([^\[\s]*)\[[^\]]*\] @ *(\S*) *\[([^\]]*)\](?:\s+Id:\s*(\d+))?")
_FIELDS = re.compile(r"(\w+): +(\S+)")
_TIME = re.compile(r"# Time: (?:(\d\d)(\d\d)(\d\d) +(\d{1,2}):(\d\d):(\d\d)(\.\d+)?|(\d{4}-\d\d-\d\dT[\d:.]+)(Z|[+-]\d\d:\d\d)?)\s*$")
_SET_TIMESTAMP = re.compile(r"SET timestamp=(\d+)(?:\.(\d+))?;\s*$")
_USE = re.compile(r"use [`\w$-]+;\s*$", re.I)
_ADMIN = re.compile(r"# administrator command: ([\w ]+);?\s*$")
# the server's banner, written again at every restart
_BANNER = re.compile(r"\S+, Version: .* started with:$|Tcp port: \d+ +Unix socket: |Time\s+Id\s+Command\s+Argument\s*$")
_SHAPE = re.compile(r"# (?:Time|User@Host|Thread_id|Query_time|Rows_affected|Full_scan|Filesort|explain|"
                    r"administrator command):|SET timestamp=\d")
MAX_STATEMENT = 1 << 16  # characters kept of a statement (a bulk INSERT can be megabytes)


class SlowLogParser(LineParser):
    name = "slowlog"
    # "# Time:" heads the records of its second (MariaDB) or its one record (MySQL): far from the capture,
    # the reader skips it and the parser drops the lines up to the next one
    WHEN = re.compile(rb"\A# Time: (?:(\d{6}) +(\d{1,2})|(\d{4}-\d\d-\d\d)T(\d\d)):")

    @classmethod
    def hour_of(cls, key: tuple) -> float:
        short, hour, day, iso_hour = (k.decode("ascii") if k else None for k in key)
        if short:
            return iso_time(f"20{short[:2]}-{short[2:4]}-{short[4:]} {int(hour):02d}:00:00")
        return iso_time(f"{day} {iso_hour}:00:00")

    def __init__(self) -> None:
        super().__init__()
        self.rec: LogSlowQuery | None = None
        self.body: list[str] = []  # the statement's lines
        self.body_chars = 0
        self.written: float | None = None  # the last "# Time:"
        self.skipping = False  # after a "# Time:" outside the window, up to the next one

    @classmethod
    def looks_like(cls, line: str) -> bool:
        return _SHAPE.match(line) is not None

    def feed(self, line: str, number: int) -> list:
        self.stats.lines += 1
        if self.skipping:
            if not line.startswith("# Time:"):
                self.stats.other += 1
                return []
            self.skipping = False
        if line.startswith("# User@Host:"):
            out = self.close()
            self._start(line, number)
            return out
        if line.startswith("# Time:"):
            out = self.close()
            self._written(line, number)
            return out
        if _BANNER.match(line):
            out = self.close()
            self.stats.other += 1
            return out
        rec = self.rec
        if rec is None:
            self.stats.other += 1
            return []
        if not self.body:
            if line.startswith("#"):
                self._header(rec, line, number)
                return []
            if self._preamble(rec, line, number):
                return []
        self._statement(line)
        return []

    def _start(self, line: str, number: int) -> None:
        m = _USER_HOST.match(line)
        if m is None:
            self.stats.bad(number)
            return
        self.rec = LogSlowQuery(source="slowlog", line=number, text="", time=self.written,
                                thread_id=int(m.group(4)) if m.group(4) else None, query_time=None,
                                user=m.group(1) or None, host=m.group(3) or m.group(2) or None)

    def _written(self, line: str, number: int) -> None:
        m = _TIME.match(line)
        if m is None:
            self.stats.bad(number)
            return
        try:
            if m.group(1):  # MariaDB, MySQL 5.6: YYMMDD H:MM:SS
                self.written = iso_time(f"20{m.group(1)}-{m.group(2)}-{m.group(3)} {int(m.group(4)):02d}:"
                                        f"{m.group(5)}:{m.group(6)}{m.group(7) or ''}")
            else:
                self.written = _iso_zoned(m.group(8), m.group(9))
        except ValueError:
            self.stats.bad(number)
        self.stats.other += 1

    def _header(self, rec: LogSlowQuery, line: str, number: int) -> None:
        admin = _ADMIN.match(line)
        if admin:  # a protocol command, not SQL (COM_QUIT, COM_PING …): it is the whole record
            self.body, self.body_chars = [f"administrator command: {admin.group(1).strip()}"], 0
            return
        fields = dict(_FIELDS.findall(line))
        try:
            if "Query_time" in fields:
                rec.query_time = float(fields["Query_time"])
                rec.lock_time = float(fields["Lock_time"]) if "Lock_time" in fields else None
                rec.rows_sent = _int(fields.get("Rows_sent"))
                rec.rows_examined = _int(fields.get("Rows_examined"))
            if "Rows_affected" in fields:
                rec.rows_affected = _int(fields["Rows_affected"])
            if "Thread_id" in fields:
                rec.thread_id = int(fields["Thread_id"])
            if "Schema" in fields:
                rec.schema = fields["Schema"] or None
            if "Start" in fields:  # MySQL's log_slow_extra: the start to the microsecond
                rec.time = _iso_zoned(fields["Start"].rstrip("Z"), "Z")
        except ValueError:
            self.stats.bad(number)

    def _preamble(self, rec: LogSlowQuery, line: str, number: int) -> bool:
        """`use db;` and `SET timestamp=…;` before the statement (True: the line was one of them)."""
        if _USE.match(line):
            rec.schema = line[4:].rstrip().rstrip(";").strip("`")
            return True
        m = _SET_TIMESTAMP.match(line)
        if m is None:
            return False
        if rec.time is None or rec.time == self.written:  # MySQL's Start: is finer
            rec.time = int(m.group(1)) + (int(m.group(2)) / 10 ** len(m.group(2)) if m.group(2) else 0.0)
        return True

    def _statement(self, line: str) -> None:
        if self.body_chars < MAX_STATEMENT:
            self.body.append(line)
            self.body_chars += len(line) + 1

    def skip(self) -> list:
        self.skipping = True
        return self.close()

    def close(self) -> list:
        rec, body = self.rec, self.body
        self.rec, self.body, self.body_chars = None, [], 0
        if rec is None:
            return []
        if not body or rec.query_time is None:
            self.stats.bad(rec.line)  # cut before its statement or its timings
            return []
        text = "\n".join(body).rstrip()
        rec.text = text[:-1].rstrip() if text.endswith(";") else text
        return self._emit([rec])


def _int(v: str | None) -> int | None:
    return int(v) if v is not None and v.isdigit() else None


def _iso_zoned(s: str, zone: str | None) -> float:
    """'2026-12-03T14:52:03.123456' with 'Z' or '+01:00' (MySQL 5.7+, log_timestamps); no zone: as UTC."""
    t = iso_time(s)
    if zone and zone != "Z":
        off = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        t -= off if zone[0] == "+" else -off
    return t
