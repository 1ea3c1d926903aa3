"""Through the whole pass: HTTP decoded inside TLS equals the same exchange in clear."""

from __future__ import annotations

import pytest

from glancetrace.pipeline import decode
from glancetrace.protocols.tls import TlsSession
from tests.protocols.tls import tlscaps as T
from tests.support.loopback import need

http = pytest.importorskip("glancetrace.protocols.http")


def _view(t):
    return (t.method, t.uri, t.status, t.request_body.size, t.request_body.md5, t.response_body.size,
            t.response_body.md5, t.incomplete, t.gap)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    need("tcpdump")
    d = tmp_path_factory.mktemp("tlspipe")
    return T.record_https(d, "clear", tls=False), T.record_https(d, "secret")


def test_https_decodes_like_http(pair):
    clear, secret = pair
    plain = decode(str(clear.pcap), http_ports={clear.port}, tls_ports=set())
    enc = decode(str(secret.pcap), http_ports=set(), tls_ports={secret.port}, keylog=[str(secret.keys)])
    a = plain.of_type(http.HttpTransaction)
    b = enc.of_type(http.HttpTransaction)
    assert len(a) == len(secret.exchanges) and [_view(t) for t in a] == [_view(t) for t in b]
    assert not any(t.tls for t in a) and all(t.tls for t in b)
    (sess,) = enc.of_type(TlsSession)
    assert sess.decrypted
    # request and response frames of each decrypted transaction lie within the session's app data
    for t in b:
        assert sess.first_up_frame <= t.request_frames[0] <= t.request_frames[1] <= sess.last_up_frame
        assert sess.first_down_frame <= t.response_frames[0] <= t.response_frames[1] <= sess.last_down_frame
    put = next(t for t in b if t.method == "PUT")
    assert put.request_body.md5 == T.md5(next(ex.body for ex in secret.exchanges if ex.method == "PUT"))


def test_https_without_keys_gives_session_only(pair):
    _, secret = pair
    res = decode(str(secret.pcap), http_ports=set(), tls_ports={secret.port})
    assert not res.of_type(http.HttpTransaction)
    (sess,) = res.of_type(TlsSession)
    assert sess.sni == T.SNI and not sess.decrypted and sess.client_random in sess.why_not
    assert sess.bytes_up > 3 * 1024 * 1024 > sess.bytes_down > 300_000
