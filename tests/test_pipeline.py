"""The pass itself (pipeline.py): process-level settings it takes and gives back."""

import sys

import pytest

from glancetrace.hashing import BackgroundHashing
from glancetrace.pipeline import Options, Pipeline
from tests.support.rig import capture


def test_a_pass_shortens_the_switch_interval_and_restores_it():
    """The hashing thread needs the GIL back quickly during a pass (glancetrace/hashing.py);
    the process's own setting is restored afterwards, even when the pass fails."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.004)
    try:
        seen = []
        pipe = Pipeline(Options())
        run_group = pipe._run_group
        pipe._run_group = lambda *a: (seen.append(sys.getswitchinterval()), run_group(*a))
        pipe.run([capture("failures")])
        assert seen and all(s <= 0.0005 for s in seen)
        assert sys.getswitchinterval() == pytest.approx(0.004)
        with pytest.raises(RuntimeError):
            with BackgroundHashing():
                raise RuntimeError
        assert sys.getswitchinterval() == pytest.approx(0.004)
    finally:
        sys.setswitchinterval(old)


def test_events_say_where_they_come_from_and_do_not_change_after_emission():
    """Two captures, HTTPS decrypted and MySQL: every event names its capture itself, and is, after the
    pass and the analysis, what it was when its decoder returned it."""
    from glancetrace.analysis.analyze import analyze
    from glancetrace.protocols.base import ConnectionEvent, SwitchToTls
    from glancetrace.protocols.http.events import HttpTransaction
    from tests.support.emitted import decode_recording
    from tests.support.rig import keys

    paths = [capture("tls_overcloud"), capture("failures")]
    res, emitted = decode_recording(paths, Options(keylog=[keys("tls_overcloud")]))
    analyze(res).to_dict()
    assert list(res.events) == emitted
    assert all(isinstance(e, ConnectionEvent) and not isinstance(e, SwitchToTls) for e in res.events)
    per_capture = [{e.conn_id for e in res.events if e.capture == i} for i in range(2)]
    streams = [{c.stream for c, i in zip(res.connections, res.conn_captures) if i == k} for k in range(2)]
    assert all(per_capture) and all(p <= s for p, s in zip(per_capture, streams))
    assert any(tx.tls for tx in res.of_type(HttpTransaction))  # the inner decoder was made knowing


def test_mysql_switching_to_tls_is_stacked_by_the_pipeline():
    """MySQL's SSL request (Zeek's Amazon RDS captures, no keys): the MySQL decoder says the
    connection switches, the pipeline puts a TLS decoder on it; the handshake is reported once,
    as encrypted, next to the TLS session's facts."""
    import glob
    import pathlib

    from glancetrace.protocols.mysql.events import MysqlHandshake
    from glancetrace.protocols.tls.events import TlsSession
    from tests.support.emitted import decode_recording

    mysql = pathlib.Path(__file__).resolve().parent / "fixtures/thirdparty/zeek/traces/mysql"
    paths = sorted(glob.glob(str(mysql / "tls-1*-amazon-rds.pcap")))
    assert len(paths) == 2
    for path in paths:
        res, emitted = decode_recording([path])
        assert list(res.events) == emitted
        hs = res.of_type(MysqlHandshake)
        tls = res.of_type(TlsSession)
        assert len(hs) == 1 and hs[0].ssl and hs[0].result is None
        assert [t.conn_id for t in tls] == [hs[0].conn_id] and tls[0].version and not tls[0].decrypted
