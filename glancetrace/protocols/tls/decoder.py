"""Sans-I/O TLS decoder: handshake facts always, decryption when the key log has the secrets.

Per direction the byte stream is cut into records.  Plaintext handshake
records give the hello facts (SNI, version, suite, ALPN, certificate); the
client random picks the secrets from the key log.  Decrypted application data
goes to an inner decoder (HTTP) with the timestamp and frame of the segment
that completed each record.  A record that fails authentication is never
passed on: before any record has authenticated it means a wrong key, later it
is reported as a bad record and the inner decoder gets a gap instead.

A capture gap breaks record framing: when the gap ends inside the record in
progress, the rest of that record is skipped and framing stays exact;
otherwise the stream is scanned for the next plausible record header.  The
sequence number is then unknown: the TLS 1.2 GCM explicit nonce or a small
window around an estimate is tried.
"""

from __future__ import annotations

from typing import Callable

from . import constants as C
from . import handshake as H
from .crypto import Tls13Cipher
from .events import TlsAlert, TlsSession
from .keys import _Keys

SEQ_WINDOW = 32  # sequence numbers tried each side of the estimate after a gap
LOST_GIVE_UP = 4  # undecryptable records in a row after a gap before decryption stops
HS_MSG_LIMIT = 1 << 20  # larger handshake messages are not buffered
KEY_RETRY_RECORDS = 16  # encrypted records during which a missing key is looked up again


class _Dir:
    __slots__ = ("buf", "synced", "started", "skip", "enc", "cipher", "pending", "seq", "lost",
                 "lost_bytes", "lost_tries", "hs", "finished", "enc_records", "wire", "records",
                 "dead", "app_secret", "hs_records", "dropped")

    def __init__(self):
        self.buf: bytearray | None = None
        self.synced = False  # record framing is known
        self.started = False  # the first record was found
        self.skip = 0  # bytes of a record cut by a gap still to drop
        self.enc = False  # handshake/alert records are encrypted from here on
        self.cipher = None
        self.pending = None  # TLS 1.2: cipher that takes over at ChangeCipherSpec
        self.seq = 0
        self.lost = False  # records were lost: sequence number unknown
        self.lost_bytes = 0
        self.lost_tries = 0
        self.hs = bytearray()  # handshake message reassembly
        self.finished = False
        self.enc_records = 0
        self.wire = 0  # record bytes seen (average record size estimate)
        self.records = 0
        self.dead = False  # decryption given up in this direction
        self.app_secret = None  # TLS 1.3 application secret when the handshake secret is missing
        self.hs_records = 0
        self.dropped = 0  # bytes passed over while looking for a record header

class TlsDecoder(_Keys):
    """One connection; its key setup is in keys.py."""

    def __init__(self, conn_id: int, client: str, server: str, keys=None,
                 inner: Callable[[], object] | None = None, capture: int = 0):
        self.s = TlsSession(conn_id, client, server, capture=capture)
        self.keys = keys
        self.inner_factory = inner
        self.inner = None
        self.inner_off = ""  # why decrypted data is not passed on
        self.d = (_Dir(), _Dir())
        self.ch: H.ClientHello | None = None
        self.sh: H.ServerHello | None = None
        self.suite: C.Suite | None = None
        self.tls13 = False
        self.key_state = ""  # "", "found", "missing", "bad", "unsupported"
        self.ok = 0  # records that authenticated
        self.saw_tls = False
        self.fed = 0
        self.server_done = False
        self.dead = False
        self.out: list = []

    # -- public API ---------------------------------------------------------------

    def feed(self, direction: int, data, ts: float, frame: int) -> list:
        self.out = out = []
        if self.dead or not data:
            return out
        try:
            self._feed(direction, data, ts, frame)
        except Exception as e:  # never raise on malformed input
            self._note(f"internal error at frame {frame}: {type(e).__name__}: {e}; stopped decoding")
            self.dead = True
        return out

    def gap(self, direction: int, nbytes: int, ts: float, frame: int) -> list:
        self.out = out = []
        if self.dead:
            return out
        try:
            self._gap(direction, nbytes, ts, frame)
        except Exception as e:
            self._note(f"internal error at frame {frame}: {type(e).__name__}: {e}; stopped decoding")
            self.dead = True
        return out

    def close(self, ts: float, frame: int, reason: str = "") -> list:
        self.out = out = []
        try:
            self._close(ts, frame, reason)
        except Exception as e:
            self._note(f"internal error at close: {type(e).__name__}: {e}")
        if self.saw_tls or self.fed:
            out.append(self.s)
        return out

    # -- framing -----------------------------------------------------------------

    def _feed(self, d: int, data, ts: float, frame: int) -> None:
        ds = self.d[d]
        self.fed += len(data)
        if not isinstance(data, memoryview):
            data = memoryview(data)
        if ds.skip:
            k = min(ds.skip, len(data))
            ds.skip -= k
            data = data[k:]
            if not data:
                return
        buf = ds.buf
        if buf:
            buf += data
            view = memoryview(buf)
        else:
            buf = None
            view = data
        n = len(view)
        pos = 0
        if not ds.synced:
            pos = self._find_record(d, view, 0)
            if pos < 0:
                ds.dropped += max(0, n - 8)
                ds.buf = bytearray(view[max(0, n - 8):])
                return
        record = self._record
        while n - pos >= 5:
            ctype = view[pos]
            ln = (view[pos + 3] << 8) | view[pos + 4]
            if not (20 <= ctype <= 24 and view[pos + 1] == 3 and ln <= C.MAX_RECORD):
                self._note(f"record framing lost in direction {d} at frame {frame}")
                self._lose_sync(d, 0)
                pos = self._find_record(d, view, pos + 1)
                if pos < 0:
                    pos = max(0, n - 8)
                    break
                continue
            end = pos + 5 + ln
            if end > n:
                break
            record(d, ctype, view[pos:pos + 5], view[pos + 5:end], ts, frame)
            pos = end
        if buf is not None:
            view.release()
            if pos:
                try:
                    del buf[:pos]
                except BufferError:  # a slice is still referenced somewhere: copy instead
                    buf = bytearray(buf[pos:])
            ds.buf = buf if buf else None
        else:
            ds.buf = bytearray(view[pos:]) if pos < n else None

    def _plausible(self, v, p: int, n: int, first: bool, d: int) -> bool:
        ctype = v[p]
        if not (20 <= ctype <= 23) or v[p + 1] != 3 or v[p + 2] > 4:
            return False
        ln = (v[p + 3] << 8) | v[p + 4]
        if ln == 0 or ln > C.MAX_RECORD:
            return False
        if first:
            # the connection's first record: a hello (possibly after a plaintext preamble such as
            # MySQL's SSL request); a record at offset 0 is taken as is (capture started mid-way)
            if p == 0:
                return True
            return ctype == C.HANDSHAKE and p + 5 < n and v[p + 5] == (C.CLIENT_HELLO if d == 0 else C.SERVER_HELLO)
        if self.sh is not None and v[p + 2] != 3 and self.sh.version >= 0x0303:
            return False
        nxt = p + 5 + ln
        if nxt + 3 <= n:  # the following record must look like one too
            return 20 <= v[nxt] <= 23 and v[nxt + 1] == 3 and v[nxt + 2] <= 4
        return True

    def _find_record(self, d: int, v, start: int) -> int:
        """Position of the first plausible record header at or after `start`, or -1."""
        ds = self.d[d]
        first = not ds.started
        n = len(v)
        p = start
        while p + 5 <= n:
            if self._plausible(v, p, n, first, d):
                skipped = p - start + ds.dropped
                ds.dropped = 0
                if skipped:
                    what = "before the first TLS record" if first else "to resynchronise"
                    self._note(f"direction {d}: skipped {skipped} bytes {what}")
                ds.synced = ds.started = True
                return p
            p += 1
        return -1

    def _lose_sync(self, d: int, nbytes: int) -> None:
        ds = self.d[d]
        ds.synced = False
        ds.buf = None
        ds.hs.clear()
        if ds.cipher is not None or ds.pending is not None:
            ds.lost = True
            ds.lost_bytes += nbytes

    def _gap(self, d: int, nbytes: int, ts: float, frame: int) -> None:
        ds = self.d[d]
        self.s.gaps += 1
        self._note(f"capture gap of {nbytes} bytes in direction {d} at frame {frame}")
        if ds.skip:
            if nbytes <= ds.skip:
                ds.skip -= nbytes  # still inside the record already reported lost
                return
            nbytes -= ds.skip
            ds.skip = 0
        else:
            b = ds.buf
            if ds.synced and b is not None and len(b) >= 5:
                ln = (b[3] << 8) | b[4]
                remaining = 5 + ln - len(b)
                if nbytes < remaining:
                    # the gap ends inside the current record: drop that record, framing stays exact
                    ds.skip = remaining - nbytes
                    ds.buf = None
                    self._record_lost(d, b[0], ln, ts, frame)
                    return
        self._lose_sync(d, nbytes)
        self._inner_gap(d, nbytes, ts, frame)

    def _record_lost(self, d: int, ctype: int, frag_len: int, ts: float, frame: int) -> None:
        """A record was cut by a gap but framing is intact: its sequence number is used up."""
        ds = self.d[d]
        if ds.cipher is not None and ctype != C.CHANGE_CIPHER_SPEC:
            ds.seq += 1
        if ctype == C.APPLICATION_DATA:
            self._count_app(d, frag_len, None, None)
            self._inner_gap(d, max(0, frag_len - 16), ts, frame)

    # -- records -----------------------------------------------------------------

    def _record(self, d: int, ctype: int, hdr, frag, ts: float, frame: int) -> None:
        ds = self.d[d]
        ds.records += 1
        ds.wire += len(frag) + 5
        self.saw_tls = True
        if ctype == C.APPLICATION_DATA or ds.enc and ctype != C.CHANGE_CIPHER_SPEC:
            self._encrypted(d, ctype, hdr, frag, ts, frame)
        elif ctype == C.HANDSHAKE:
            self._handshake_bytes(d, frag, ts, frame)
        elif ctype == C.CHANGE_CIPHER_SPEC:
            self._ccs(d, ts, frame)
        elif ctype == C.ALERT:
            self._alerts(d, frag, ts, frame, encrypted=False)
        else:
            self._note(f"direction {d}: record type {ctype} at frame {frame}")

    def _ccs(self, d: int, ts: float, frame: int) -> None:
        if self.tls13 or (self.sh is None and self.ch is not None and self.ch.versions and 0x0304 in self.ch.versions):
            return  # middlebox-compatibility CCS, no meaning in TLS 1.3
        ds = self.d[d]
        ds.enc = True
        if d == 1 and not self.server_done and self.sh is not None:
            self.s.resumed = True  # abbreviated handshake: no ServerHelloDone before the server's CCS
        if ds.pending is None and self.key_state in ("", "missing"):
            self._setup_keys()
        if ds.pending is not None:
            ds.cipher, ds.pending, ds.seq = ds.pending, None, 0

    def _encrypted(self, d: int, ctype: int, hdr, frag, ts: float, frame: int) -> None:
        ds = self.d[d]
        ds.enc_records += 1
        cipher = ds.cipher
        if cipher is None and not ds.dead:
            if self.key_state in ("", "missing") and ds.enc_records <= KEY_RETRY_RECORDS and self.sh is not None:
                self._setup_keys()
                cipher = ds.cipher
            if cipher is None and ds.app_secret is not None:
                cipher = self._try_app_secret(d, hdr, frag)
        if cipher is None or ds.dead:
            self._opaque(d, ctype, frag, ts, frame)
            return
        if ds.lost:
            res = self._open_lost(d, hdr, frag, frame)
        else:
            res = cipher.open(ds.seq, hdr, frag)
            if res is None:
                self._auth_failed(d, ctype, frag, ts, frame)
                return
            ds.seq += 1
        if res is None:
            self._opaque(d, ctype, frag, ts, frame)
            return
        self.ok += 1
        itype, pt = res
        if itype == C.APPLICATION_DATA:
            self._count_app(d, len(frag), ts, frame)
            if d:
                self.s.plaintext_down += len(pt)
            else:
                self.s.plaintext_up += len(pt)
            self._app(d, pt, ts, frame)
        elif itype == C.HANDSHAKE:
            self._handshake_bytes(d, pt, ts, frame)
        elif itype == C.ALERT:
            self._alerts(d, pt, ts, frame, encrypted=True)
        else:
            self._note(f"direction {d}: inner record type {itype} at frame {frame}")

    def _try_app_secret(self, d: int, hdr, frag):
        """TLS 1.3 without the handshake secret: the first record opening with the
        application secret at sequence 0 is where application data starts."""
        ds = self.d[d]
        c = Tls13Cipher(self.suite, ds.app_secret)
        if c.open(0, hdr, frag) is None:
            return None
        ds.cipher, ds.app_secret, ds.seq = c, None, 0
        self._finished(d, None, None)
        return c

    def _auth_failed(self, d: int, ctype: int, frag, ts: float, frame: int) -> None:
        ds = self.d[d]
        if self.ok == 0:
            self.key_state = "bad"
            self.s.why_not = "wrong key: record authentication failed"
            for x in self.d:
                x.cipher = x.pending = x.app_secret = None
                x.dead = True
            self._opaque(d, ctype, frag, ts, frame)
            return
        # keys were good: this record is damaged (or records were lost); never pass it on
        self.s.auth_failures += 1
        self._note(f"direction {d}: record at frame {frame} failed authentication")
        ds.seq += 1
        ds.lost, ds.lost_bytes = True, 0
        self._opaque(d, ctype, frag, ts, frame)
        self._inner_gap(d, max(0, len(frag) - 16), ts, frame)

    def _open_lost(self, d: int, hdr, frag, frame: int):
        ds = self.d[d]
        c = ds.cipher
        avg = ds.wire / ds.records if ds.records else C.MAX_RECORD
        est = ds.seq + int(ds.lost_bytes / max(avg, 32))
        cands = []
        hint = getattr(c, "explicit_seq", None)
        x = hint(frag) if hint else None
        if x is not None:
            cands.append(x)
        for k in range(SEQ_WINDOW + 1):
            cands.append(est + k)
            if k and est - k >= ds.seq - 2:
                cands.append(est - k)
        for seq in cands:
            if seq < 0:
                continue
            res = c.open(seq, hdr, frag)
            if res is not None:
                if seq != ds.seq:
                    self._note(f"direction {d}: resynchronised at sequence {seq} (frame {frame})")
                ds.seq, ds.lost, ds.lost_bytes, ds.lost_tries = seq + 1, False, 0, 0
                return res
        ds.lost_tries += 1
        if ds.lost_tries >= LOST_GIVE_UP:
            ds.dead = True
            self._note(f"direction {d}: sequence number not found after a gap; decryption stopped")
            if not self.s.why_not:
                self.s.why_not = f"lost record sequence after a capture gap (direction {d})"
        return None

    def _opaque(self, d: int, ctype: int, frag, ts: float, frame: int) -> None:
        """An encrypted record that is not (or cannot be) decrypted: classify by position."""
        ds = self.d[d]
        s = self.s
        if ctype == C.ALERT:
            s.alerts.append(TlsAlert(d, None, None, "encrypted alert", ts, frame, True))
        elif ctype == C.HANDSHAKE:
            if not ds.finished:
                self._finished(d, ts, frame)
            else:
                self._note(f"direction {d}: encrypted handshake record after the handshake (renegotiation?) at frame {frame}")
        elif ctype == C.APPLICATION_DATA:
            if self.tls13 and not self.d[0].finished:
                if d == 0:
                    self._finished(0, ts, frame)  # the client's first encrypted record is its Finished
                else:
                    ds.hs_records += 1  # server handshake flight
                return
            if self.sh is None and self.ch is None and not s.anomalies:
                self._note("handshake not captured (capture started after it)")
            self._count_app(d, len(frag), ts, frame)
            if ds.cipher is not None or self.key_state == "found":
                self._inner_gap(d, len(frag), ts, frame)

    def _count_app(self, d: int, nbytes: int, ts, frame) -> None:
        s = self.s
        if d:
            s.bytes_down += nbytes
            s.records_down += 1
            if ts is not None:
                if s.first_down is None:
                    s.first_down, s.first_down_frame = ts, frame
                s.last_down, s.last_down_frame = ts, frame
        else:
            s.bytes_up += nbytes
            s.records_up += 1
            if ts is not None:
                if s.first_up is None:
                    s.first_up, s.first_up_frame = ts, frame
                s.last_up, s.last_up_frame = ts, frame

    def _alerts(self, d: int, data, ts: float, frame: int, encrypted: bool) -> None:
        for i in range(0, len(data) - 1, 2):
            level, desc = data[i], data[i + 1]
            self.s.alerts.append(TlsAlert(d, level, desc, C.ALERTS.get(desc, f"alert {desc}"), ts, frame, encrypted))

    # -- handshake ---------------------------------------------------------------

    def _handshake_bytes(self, d: int, data, ts: float, frame: int) -> None:
        hs = self.d[d].hs
        hs += data
        while len(hs) >= 4:
            ln = int.from_bytes(hs[1:4], "big")
            if ln > HS_MSG_LIMIT:
                self._note(f"direction {d}: handshake message of {ln} bytes not parsed")
                hs.clear()
                return
            if len(hs) < 4 + ln:
                return
            mtype, body = hs[0], bytes(hs[4:4 + ln])
            del hs[:4 + ln]
            try:
                self._message(d, mtype, body, ts, frame)
            except ValueError as e:
                self._note(f"direction {d}: handshake message {mtype} at frame {frame}: {e}")

    def _message(self, d: int, mtype: int, body: bytes, ts: float, frame: int) -> None:
        s = self.s
        if mtype == C.CLIENT_HELLO and d == 0:
            ch = H.parse_client_hello(body)
            if self.ch is None:
                s.handshake_start, s.handshake_start_frame = ts, frame
            elif self.d[0].enc:
                self._note(f"renegotiation ClientHello at frame {frame} (not followed)")
                return
            self.ch = ch
            s.sni, s.alpn_offered = ch.sni, ch.alpn
            s.client_random = ch.random.hex()
            if ch.early_data:
                self._note("client offered 0-RTT early data (not decrypted)")
        elif mtype == C.SERVER_HELLO and d == 1:
            sh = H.parse_server_hello(body)
            if sh.hrr:
                s.hello_retry = True
                return
            if self.sh is not None:
                self._note(f"second ServerHello at frame {frame} (not followed)")
                return
            self.sh = sh
            self.tls13 = sh.version == 0x0304
            self.suite = C.SUITES.get(sh.suite)
            s.version, s.cipher = C.version_name(sh.version), C.suite_name(sh.suite)
            if sh.alpn:
                s.alpn = sh.alpn
            if sh.group is not None:
                s.group = C.GROUPS.get(sh.group, str(sh.group))
            if self.tls13:
                s.resumed = sh.psk
                self.d[0].enc = self.d[1].enc = True
            elif self.ch is not None and sh.session_id and sh.session_id == self.ch.session_id:
                s.resumed = True
            self._setup_keys()
        elif mtype == C.CERTIFICATE and d == 1:
            certs = H.parse_certificates(body, self.tls13)
            s.cert_chain = len(certs)
            if certs:
                s.cert_subject, s.cert_issuer = H.cert_names(certs[0])
        elif mtype == C.SERVER_KEY_EXCHANGE and d == 1:
            g = H.server_key_exchange_group(body)
            if g is not None:
                s.group = C.GROUPS.get(g, str(g))
        elif mtype == C.SERVER_HELLO_DONE and d == 1:
            self.server_done = True
        elif mtype == C.ENCRYPTED_EXTENSIONS and d == 1:
            alpn = H.parse_encrypted_extensions(body)
            if alpn:
                s.alpn = alpn
        elif mtype == C.FINISHED:
            self._finished(d, ts, frame)
        elif mtype == C.KEY_UPDATE and self.tls13:
            ds = self.d[d]
            s.key_updates += 1
            if ds.cipher is not None:
                ds.cipher.update()
                ds.seq = 0

    def _finished(self, d: int, ts, frame) -> None:
        ds = self.d[d]
        if ds.finished:
            return
        ds.finished = True
        s = self.s
        if self.tls13 and ds.pending is not None:
            ds.cipher, ds.pending, ds.seq = ds.pending, None, 0
        if ts is not None and (s.handshake_end is None or ts >= s.handshake_end):
            s.handshake_end, s.handshake_end_frame = ts, frame
        if self.d[0].finished and self.d[1].finished or self.tls13 and d == 0:
            s.established = True

    # -- inner decoder -----------------------------------------------------------

    def _app(self, d: int, pt, ts: float, frame: int) -> None:
        inner = self.inner
        if inner is None:
            if self.inner_off or self.inner_factory is None:
                return
            alpn = self.s.alpn
            if alpn and alpn not in ("http/1.1", "http/1.0"):
                self.inner_off = f"ALPN {alpn}: application protocol not decoded"
                self._note(self.inner_off)
                return
            inner = self.inner = self.inner_factory()
        ev = inner.feed(d, pt, ts, frame)
        if ev:
            self._pass_on(ev)

    def _inner_gap(self, d: int, nbytes: int, ts: float, frame: int) -> None:
        if self.inner is not None and nbytes > 0:
            ev = self.inner.gap(d, nbytes, ts, frame)
            if ev:
                self._pass_on(ev)

    def _pass_on(self, events: list) -> None:
        self.out.extend(events)  # the inner decoder was made knowing it reads decrypted TLS

    # -- end -----------------------------------------------------------------------

    def _close(self, ts: float, frame: int, reason: str) -> None:
        s = self.s
        s.close_reason = reason
        for d, ds in enumerate(self.d):
            if ds.buf and ds.synced:
                self._note(f"direction {d}: connection ended inside a record ({len(ds.buf)} bytes pending)")
                ds.buf = None
        if self.inner is not None:
            ev = self.inner.close(ts, frame, reason)
            if ev:
                self._pass_on(ev)
        s.decrypted = self.key_state == "found" and self.ok > 0
        if not s.decrypted and not s.why_not:
            if self.fed and not self.saw_tls:
                s.why_not = "not TLS"
            elif self.sh is None:
                s.why_not = ("handshake not captured: client random unknown" if self.ch is None
                             else "no ServerHello: handshake did not complete")
            elif self.key_state == "found":
                s.why_not = "no encrypted record to decrypt"
            elif self.keys is None and self.ch is not None:
                self._missing(self.ch.random)

    def _note(self, msg: str) -> None:
        if len(self.s.anomalies) < 100:
            self.s.anomalies.append(msg)
