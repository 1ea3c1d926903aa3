"""oslo.log files (glance-api.log, keystone.log): one message per record, tracebacks on the lines after.

    2026-12-03 08:34:18.361 951 ERROR glance.api.v2.image_data [None req-6d1c… admin admin - - default default] Failed…
    2026-12-03 08:34:18.361 951 ERROR glance.api.v2.image_data Traceback (most recent call last):
    2026-12-03 08:34:18.361 951 ERROR glance.api.v2.image_data   File "…", line 12, in upload
    2026-12-03 08:34:18.361 951 ERROR glance.api.v2.image_data OSError: [Errno 28] No space left on device

Traceback lines repeat the prefix without the request context (oslo's logging_exception_prefix),
or come bare (stdout, journald); both belong to the record before them.
"""

from __future__ import annotations

import re

from .line_parser import LineParser
from .records import LogMessage
from .timeparse import iso_time

_LINE = re.compile(r"(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?) (\d+) (DEBUG|INFO|WARNING|ERROR|CRITICAL|TRACE|AUDIT) "
                   r"(\S+) ?(.*)$")
REQUEST_ID = re.compile(r"\breq-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_MAX_TRACEBACK = 60  # lines kept per record: the end of a traceback is what matters


class OsloParser(LineParser):
    name = "oslo"

    def __init__(self) -> None:
        super().__init__()
        self.open: LogMessage | None = None
        self.in_traceback = False

    LINE = _LINE
    WHEN = re.compile(rb"\A(\d{4}-\d\d-\d\d)[ T](\d\d):\d\d:\d\d")

    @classmethod
    def hour_of(cls, key: tuple) -> float:
        return iso_time(f"{key[0].decode('ascii')} {key[1].decode('ascii')}:00:00")

    def feed(self, line: str, number: int) -> list:
        self.stats.lines += 1
        m = _LINE.match(line)
        if m is None:
            return self._continuation(line, number)
        rest = m.group(5)
        cur = self.open
        if cur is not None and not rest.startswith("[") and cur.pid == int(m.group(2)) and cur.logger == m.group(4):
            return self._continuation(rest, number, prefixed=True)
        t = self._time(iso_time, m.group(1), number)
        if t is None:
            return []
        ctx, msg = "", rest
        if rest.startswith("["):
            end = rest.find("]")
            if end < 0:
                self.stats.bad(number)  # the line was cut inside its context
                return []
            ctx, msg = rest[1:end], rest[end + 1:].lstrip()
        rid = REQUEST_ID.search(ctx)
        out = self.close()
        self.open = LogMessage(source="oslo", line=number, text=line, time=t, level=m.group(3), logger=m.group(4),
                               pid=int(m.group(2)), request_id=rid.group(0) if rid else None, message=msg)
        self.in_traceback = False
        return out

    def _continuation(self, text: str, number: int, prefixed: bool = False) -> list:
        cur = self.open
        if cur is None:
            self.stats.other += 1
            return []
        if text.startswith("Traceback (most recent call last)"):
            self.in_traceback = True
            cur.traceback.clear()
        elif self.in_traceback or prefixed:
            cur.traceback.append(text)
            if len(cur.traceback) > _MAX_TRACEBACK:
                del cur.traceback[0]
        return []

    def close(self) -> list:
        cur, self.open = self.open, None
        return self._emit([cur]) if cur is not None else []
