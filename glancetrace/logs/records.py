"""Typed records the log parsers emit, and the counts every parser keeps."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class LogRequest:
    """One HTTP request as a log line tells it (haproxy, uWSGI, Apache, a client's --debug output)."""

    source: str  # haproxy | uwsgi | apache | client
    line: int  # 1-based line number in its file
    text: str  # the line as written (redact before showing)
    time: float | None  # epoch seconds as written; naive times are read as UTC (the file's offset corrects them)
    method: str | None
    path: str | None  # request target as logged
    status: int | None
    bytes_out: int | None = None  # response bytes (haproxy counts headers too)
    duration: float | None = None  # seconds from the request to the end of the response
    client: str | None = None  # "ip:port" (haproxy) or "ip" (uWSGI, Apache)
    frontend: str | None = None  # haproxy frontend ("~" suffix: TLS)
    backend: str | None = None
    server: str | None = None
    timers: tuple[int, ...] = ()  # haproxy TR/Tw/Tc/Tr/Ta in ms (-1: not reached)
    request_id: str | None = None  # x-openstack-request-id, where the line has it
    port: int | None = None  # server port from an absolute URL (client --debug output)
    host: str | None = None
    file: str = ""  # set by the reader


@dataclass(slots=True)
class LogMessage:
    """A service's own message (oslo.log, MariaDB's error log), with the traceback lines that followed it."""

    source: str  # oslo | mariadb
    line: int
    text: str
    time: float | None
    level: str  # DEBUG INFO WARNING ERROR CRITICAL (MariaDB: Note Warning ERROR → WARNING/ERROR/INFO)
    logger: str = ""  # glance.api.v2.images, keystone.server.flask…
    pid: int | None = None
    request_id: str | None = None
    message: str = ""
    traceback: list[str] = field(default_factory=list)  # lines after "Traceback (most recent call last):"
    connection: int | None = None  # MariaDB connection (thread) id
    file: str = ""

    @property
    def exception(self) -> str | None:
        """The traceback's last line ("OSError: [Errno 28] No space left on device")."""
        for line in reversed(self.traceback):
            if line.strip():
                return line.strip()
        return None


@dataclass
class ParseStats:
    lines: int = 0
    records: int = 0
    garbled: int = 0  # lines in the format's shape that could not be read (cut, damaged): skipped
    other: int = 0  # lines of the file that are not records (startup banners, client output, …)
    before: int = 0  # lines whose hour is before / after the window asked for: counted, not parsed
    after: int = 0
    garbled_examples: list[int] = field(default_factory=list)  # first few line numbers

    def bad(self, number: int) -> None:
        self.garbled += 1
        if len(self.garbled_examples) < 5:
            self.garbled_examples.append(number)


@dataclass(slots=True)
class LogSlowQuery:
    """One statement of MariaDB's or MySQL's slow query log, with what the server measured."""

    source: str  # slowlog
    line: int  # the record's first line (its "# User@Host:" or "# Time:")
    text: str  # the statement as logged (redact before showing)
    time: float | None  # the statement's start, epoch seconds (SET timestamp=…, or MySQL's Start:)
    thread_id: int | None  # the server's connection id (MariaDB "Thread_id:", MySQL "Id:")
    query_time: float | None  # seconds, measured by the server
    lock_time: float | None = None
    rows_sent: int | None = None
    rows_examined: int | None = None
    rows_affected: int | None = None
    user: str | None = None
    host: str | None = None
    schema: str | None = None
    file: str = ""
