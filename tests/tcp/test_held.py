"""Answers captured before their question are held, then released in bounded work.

Merged once, the reassembler spun for more than 20 minutes on the rig `concurrent` capture: two held
segments of one side were re-held behind each other forever.  These tests count hold operations
with a budget (they fail instead of hanging) on that capture and on a real MySQL exchange reordered
the way that triggered it."""

from __future__ import annotations

import collections

import dpkt
import pytest

from glancetrace.pipeline import decode
from glancetrace.protocols.mysql import SqlStatement
from glancetrace.tcp.held import HeldAnswers
from tests.support.rig import capture
from tests.tcp.test_reordering import _records, _write


class OverBudget(Exception):
    pass


@pytest.fixture
def holds(monkeypatch):
    """Counts of held segments and of those put back; raises past the budget set in it."""
    counts = collections.Counter(budget=10**9)

    def counted(name, original):
        def wrapper(self, *args, **kwargs):
            counts[name] += 1
            if counts["add"] + counts["put_back"] > counts["budget"]:
                raise OverBudget(dict(counts))
            return original(self, *args, **kwargs)
        monkeypatch.setattr(HeldAnswers, name, wrapper)

    counted("add", HeldAnswers.add)
    counted("put_back", HeldAnswers.put_back)
    return counts


def _statements(res):
    return [(s.command, s.sql, s.result, s.incomplete) for s in res.of_type(SqlStatement)]


def test_rig_concurrent_is_decoded_with_few_holds(holds):
    """Pooled MySQL connections captured mid-stream, both sides' first data before the other's."""
    lt, recs = _records(capture("concurrent"))
    holds["budget"] = len(recs)
    res = decode(capture("concurrent"))
    assert holds["add"] + holds["put_back"] <= 100, dict(holds)  # 8 when written (was endless)
    assert sum(ds.gap_bytes for c in res.connections for ds in c.dirs) == 0
    assert len(_statements(res)) > 7000 and not any(s[3] for s in _statements(res))


def _mysql_exchanges(recs):
    """Indices of (client query, server answer, next client query, next server answer) records of
    one MySQL connection, consecutive in its traffic, all with data."""
    conn = []
    for i, (_ts, buf) in enumerate(recs):
        tcp = dpkt.ethernet.Ethernet(buf).data.data
        if 3306 in (tcp.sport, tcp.dport) and len(tcp.data):
            conn.append((i, tcp.dport == 3306, (tcp.sport, tcp.dport)))
    for k in range(len(conn) - 3):
        (a, ca, pa), (b, cb, pb), (c, cc, pc), (d, cd, pd) = conn[k:k + 4]
        if a > 2000 and ca and not cb and cc and not cd and len({pa, pb[::-1], pc, pd[::-1]}) == 1:
            yield a, b, c, d


def test_answer_before_its_question_with_the_next_answer_behind(tmp_path, holds):
    """Client query Q1 captured after the server's answer A1, the next query Q2 and its answer A2:
    A1 waits for Q1, Q2 (which acknowledges A1) for A1, A2 behind A1.  Released in bounded work,
    and decoded as the original."""
    lt, recs = _records(capture("plain_overcloud"))
    moved, last = 0, -1
    for q1, a1, q2, a2 in _mysql_exchanges(recs):
        if moved == 20:
            break
        if q1 % 7 or q1 <= last or a2 - q1 != 3:  # (records of other connections in between: kept)
            continue
        recs[q1:a2 + 1] = [recs[a1], recs[q2], recs[a2], recs[q1]]
        moved, last = moved + 1, a2
    assert moved == 20
    _write(tmp_path / "moved.pcap", lt, recs)
    holds["budget"] = 10 * len(recs)
    res = decode(str(tmp_path / "moved.pcap"))
    assert holds["add"] >= 3 * moved
    assert holds["add"] + holds["put_back"] <= 6 * moved, dict(holds)
    assert sum(ds.gap_bytes for c in res.connections for ds in c.dirs) == 0
    assert _statements(res) == _statements(decode(capture("plain_overcloud")))
