"""Which writes took effect: only a committed change is a transition.

Glance (SQLAlchemy over PyMySQL) runs with autocommit off: its INSERTs and UPDATEs count once the
COMMIT that ends their transaction is answered OK.  A write whose transaction was rolled back, or
whose connection ended before a COMMIT was answered, never happened — the server rolls an unfinished
transaction back when the connection goes, and MariaDB sends no error packet to a connection it
kills: the connection just closes under the statement in flight.  A connection that never showed a
transaction (no COMMIT, ROLLBACK, BEGIN or `SET autocommit=0`) is taken to autocommit: a write
answered OK there counted.

Also here: a MySQL connection lost with a statement in flight (the server closed it before it
answered), tied to the API call that statement belongs to, and the client's reconnection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..protocols.tcp_facts import TcpFacts

_AUTOCOMMIT_OFF = re.compile(r"^\s*SET\s+(?:@@\w*\.?)?autocommit\s*=\s*(?:0|OFF|false)\b", re.IGNORECASE)
_OPENS = ("BEGIN", "COMMIT", "ROLLBACK")


@dataclass(frozen=True)
class WriteFate:
    """What became of one write: `fate` is "committed", "rolled back", "connection lost" (closed before
    it or its COMMIT was answered), "commit failed" or "open" (still open when the capture ended)."""

    fate: str
    closer: str | None = None  # "server" | "client": who ended the connection, for "connection lost"
    end_row: str | None = None  # the COMMIT/ROLLBACK row that decided it
    end_frame: int | None = None  # the FIN/RST frame, for "connection lost"

    @property
    def took_effect(self) -> bool:
        return self.fate in ("committed", "open")


@dataclass(frozen=True)
class LostConnection:
    """A MySQL connection that ended while a statement waited for its reply."""

    key: tuple[int, int]  # (capture, conn_id)
    row: object  # the SqlRow in flight
    closer: str  # "server" | "client"
    kind: str  # "fin" | "rst"
    time: float
    frame: int
    reconnect: object | None = None  # the client's next MysqlHandshake to the same server


def facts_by_connection(events) -> dict[tuple[int, int], TcpFacts]:
    return {(f.capture, f.conn_id): f for f in events if isinstance(f, TcpFacts)}


def _conn_rows(rows) -> dict[tuple[int, int], list]:
    by: dict[tuple[int, int], list] = {}
    for r in rows:
        by.setdefault((r.capture, r.stmt.conn_id), []).append(r)
    return by


def _transactional(rows) -> bool:
    return any(r.meaning.operation in _OPENS or _AUTOCOMMIT_OFF.match(r.stmt.sql or "") for r in rows)


def _closed(facts: TcpFacts | None):
    """The first FIN or RST of the connection, or None (still open at the end of the capture)."""
    return facts.ends[0] if facts is not None and facts.ends else None


def write_fates(rows, facts: dict[tuple[int, int], TcpFacts]) -> dict[str, WriteFate]:
    """Row id → fate, for every write (INSERT/UPDATE/DELETE/REPLACE) answered OK or not answered."""
    out: dict[str, WriteFate] = {}
    for key, conn in _conn_rows(rows).items():
        end = _closed(facts.get(key))
        lost = WriteFate("connection lost", end.sender, end_frame=end.frame) if end is not None else WriteFate("open")
        if not _transactional(conn):
            for r in conn:
                if r.meaning.meaning.is_write and r.stmt.result != "error":
                    out[r.id] = WriteFate("committed") if r.stmt.result is not None else lost
            continue
        pending: list = []
        for r in conn:
            op = r.meaning.operation
            if r.meaning.meaning.is_write and r.stmt.result != "error":
                pending.append(r)
            elif op in ("COMMIT", "ROLLBACK") and pending:
                fate = _ended(op, r, lost)
                out.update((p.id, fate) for p in pending)
                pending = []
        out.update((p.id, lost) for p in pending)
    return out


def _ended(op: str, row, lost: WriteFate) -> WriteFate:
    if op == "ROLLBACK":
        return WriteFate("rolled back", end_row=row.id)
    if row.stmt.result is None:
        return lost if lost.fate == "connection lost" else WriteFate("open", end_row=row.id)
    return WriteFate("committed" if row.stmt.result != "error" else "commit failed", end_row=row.id)


def lost_connections(rows, facts: dict[tuple[int, int], TcpFacts], handshakes, skip=frozenset()) -> list[LostConnection]:
    """Connections closed (FIN or RST from either side) while their last statement had no reply; the
    client's COM_QUIT is a normal end.  `skip`: connections another finding covers (proxy hops)."""
    out = []
    for key, conn in _conn_rows(rows).items():
        if key in skip:
            continue
        last = conn[-1]
        end = _closed(facts.get(key))
        if end is None or last.stmt.result is not None or last.stmt.command == "COM_QUIT":
            continue
        if end.time < last.stmt.request_time:
            continue
        out.append(LostConnection(key, last, end.sender, end.kind, end.time, end.frame,
                                  _reconnect(last, end.time, handshakes)))
    return out


def _reconnect(row, after: float, handshakes):
    """The same client host's next handshake with the same server after the loss."""
    host = row.stmt.client.rsplit(":", 1)[0]
    later = [h for h in handshakes if h.capture == row.capture and h.server == row.stmt.server
             and h.client.rsplit(":", 1)[0] == host and h.time >= after and not h.inferred]
    return min(later, key=lambda h: h.time, default=None)


# -- findings ---------------------------------------------------------------------------------------

def _short(s: str | None, n: int = 100) -> str:
    s = " ".join((s or "").split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _call_outcome(call) -> str:
    if call is None:
        return ""
    tx = call.tx
    answer = f"failed with {tx.status} {tx.reason}".rstrip() if tx.status is not None and tx.status >= 400 else (
        f"answered {tx.status}" if tx.status is not None else "got no response")
    return f"; the {call.kind} call {tx.method} {_short(tx.uri, 80)} {answer}"


def attempt_message(label: str, status: str, row, fate: WriteFate, call, existed: str | None) -> str:
    """The sentence of a `not-committed` finding: the write, what became of it, the call, the image."""
    what = f"Glance's {row.meaning.operation} setting status '{status}'"
    frames = [f for fr in (row.stmt.request_frames, row.stmt.response_frames) if fr for f in fr]
    at = f"frames {min(frames)}–{max(frames)}" if frames else "no frames"
    if fate.fate == "connection lost":
        answered = "before its transaction was committed" if row.stmt.result is not None else "before it answered"
        how = (f"the MySQL connection carrying {what} was closed by the {fate.closer} {answered} ({at}; "
               f"closed at frame {fate.end_frame}): the server rolled it back")
    elif fate.fate == "rolled back":
        how = f"{what} was rolled back ({at}): it never took effect"
    else:
        how = f"the COMMIT of {what} failed ({at}): it never took effect"
    after = "the image never existed" if existed is None else f"the image stayed '{existed}'"
    return f"{label}: {how}{_call_outcome(call)}; {after}"


def lost_message(lost: LostConnection, handshakes, call) -> str:
    s = lost.row.stmt
    thread = next((h.thread_id for h in handshakes if (h.capture, h.conn_id) == lost.key and h.thread_id), None)
    conn = f"MySQL connection from {s.client}" + (f" (thread id {thread})" if thread else "")
    how = "reset" if lost.kind == "rst" else "closed"
    if lost.closer == "server":
        who = f"the server {s.server} {how} the {conn}"
    else:
        who = f"the client {how} its {conn} without waiting"
    msg = (f"{who} while '{_short(s.sql or s.command)}' waited for its reply ({lost.kind.upper()} at frame "
           f"{lost.frame}, {lost.time - s.request_time:.1f} s after it was sent; MariaDB sends no error to a "
           f"connection it kills){_call_outcome(call)}")
    h = lost.reconnect
    if h is not None:
        msg += (f"; the client reconnected {h.time - lost.time:.1f} s later (new connection from "
                f"{h.client}" + (f", thread id {h.thread_id}" if h.thread_id else "") + f", frame {h.frames[0]})")
    return msg
