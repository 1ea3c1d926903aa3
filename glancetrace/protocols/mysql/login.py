"""The connection phase: greeting, login (or SSL request), authentication result."""

from __future__ import annotations

from . import constants as C
from ..base import SwitchToTls
from .events import MysqlHandshake
from .framing import CompressedFramer, PlainFramer
from .wire import Short, cstring, lenenc_bytes, lenenc_int, text, u16, u32

_TLS_OPAQUE = "TLS requested: the rest of the connection is encrypted"


class _Handshake:
    """Part of MysqlDecoder (decoder.py): the connection phase."""

    def _server_handshake(self, seq, p, ff, fts, lf, lts) -> None:
        hs = self.hs
        n = len(p)
        h = p[0] if n else -1
        if hs is None:
            hs = self.hs = MysqlHandshake(self.conn_id, self.client, self.server, fts, (ff, lf), capture=self.capture)
            if h == 0xFF:  # refused before the greeting (host not allowed, too many connections)
                ev = self._statement("COM_CONNECT", None, fts)
                self._err(ev, p)
                hs.result, hs.error_code, hs.error_message = "error", ev.error_code, ev.error_message
                self._end_handshake(lf)
                return
            self._greeting(hs, p)
            return
        hs.frames = (hs.frames[0], lf)
        if h == 0x00:
            hs.result = "ok"
            self._end_handshake(lf)
            if self.caps & C.CLIENT_COMPRESS:
                self.compressed = hs.compressed = True
                self.framers = [CompressedFramer(), CompressedFramer()]
        elif h == 0xFF:
            ev = self._statement("COM_CONNECT", None, fts)
            self._err(ev, p)
            hs.result, hs.error_code, hs.error_message = "error", ev.error_code, ev.error_message
            self._end_handshake(lf)
        elif h == 0xFE:
            if n > 1:
                plugin, _ = cstring(p, 1)
                hs.auth_plugin = text(plugin)  # the switch target; its data (a scramble) is not kept
            hs.notes.append(f"auth switch to {hs.auth_plugin}")
        elif h == 0x01:
            hs.notes.append(f"auth more data ({n - 1} bytes)")

    def _handshake_packet(self, d: int, seq, p, ff, fts, lf, lts) -> None:
        try:
            if d == 0:
                self._client_handshake(seq, p, ff, fts, lf, lts)
            else:
                self._server_handshake(seq, p, ff, fts, lf, lts)
        except (Short, IndexError, ValueError) as e:  # a damaged handshake packet, as for requests
            self._handshake_damaged("client" if d == 0 else "server", ff, e)

    def _handshake_damaged(self, side: str, frame: int, e: Exception) -> None:
        note = f"malformed {side} handshake packet at frame {frame}: {type(e).__name__}"
        if self.hs is not None:
            self.hs.notes.append(note)
        else:
            self._note(note)

    def _end_handshake(self, lf) -> None:
        self.phase = "command"
        if not self.hs_done:
            self.hs_done = True
            self.out.append(self.hs)

    def inside_tls(self) -> "_Handshake":
        """The TLS after the SSL request (`SwitchToTls`) could be decrypted: its bytes come back
        here, starting with the client's login (the greeting was in clear), which completes the
        handshake (user, result)."""
        self.phase = "handshake"
        self.tls = True
        self.framers = [PlainFramer(), PlainFramer()]
        hs = self.hs
        if hs is not None:
            hs.client_capabilities = None
            hs.notes = [n for n in hs.notes if n != _TLS_OPAQUE] + ["TLS decrypted with the key log"]
        return self

    def _greeting(self, hs: MysqlHandshake, p) -> None:
        if not len(p):  # a zero-length packet where the greeting should be: nothing to read
            hs.notes.append("empty greeting packet")
            return
        if p[0] != 10:
            hs.notes.append(f"protocol version {p[0]}")
        ver, pos = cstring(p, 1)
        hs.server_version = text(ver) or ""
        hs.thread_id = u32(p, pos)
        pos += 4 + 8 + 1  # scramble part 1 (not kept) and filler
        caps = u16(p, pos)
        pos += 2
        if pos + 16 <= len(p):
            hs.charset = p[pos]
            caps |= u16(p, pos + 3) << 16
            scramble_len = p[pos + 5]
            self.ext_caps = u32(p, pos + 12) if not caps & C.CLIENT_LONG_PASSWORD else 0
            pos += 16
            if caps & C.CLIENT_SECURE_CONNECTION:
                pos += max(13, scramble_len - 8)
            if caps & C.CLIENT_PLUGIN_AUTH and pos < len(p):
                hs.auth_plugin = text(cstring(p, pos)[0])
        hs.server_capabilities = caps
        self.caps = caps

    def _client_handshake(self, seq, p, ff, fts, lf, lts) -> None:
        hs = self.hs
        if hs is None:
            return
        hs.frames = (hs.frames[0], lf)
        if hs.client_capabilities is not None:
            return  # auth data (switch / more data answers): never kept
        n = len(p)
        caps = u16(p, 0)
        if caps & C.CLIENT_PROTOCOL_41:
            caps = u32(p, 0)
            pos = 32
            if not self.caps & C.CLIENT_LONG_PASSWORD and n >= 32:
                self.ext_caps &= u32(p, 28)
            else:
                self.ext_caps = 0
        else:
            pos = 5
        hs.client_capabilities = caps
        self.caps &= caps
        if not self.caps & C.CLIENT_PROTOCOL_41:
            self.caps &= ~C.CLIENT_SECURE_CONNECTION
        hs.capabilities = self.caps
        if caps & C.CLIENT_SSL and n <= pos:
            # SSL request: the rest of the connection is TLS
            hs.ssl = True
            hs.result = None
            hs.notes.append(_TLS_OPAQUE)
            # the handshake event waits for the login inside TLS, or for the close when the TLS
            # stays opaque: events do not change once emitted
            self.phase = "tls"
            if not self.tls:
                self.out.append(SwitchToTls(self.conn_id, self.client, self.server, lts, lf,
                                            capture=self.capture))
            return
        user, pos = cstring(p, pos)
        hs.user = self.user = text(user)
        if caps & C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
            alen, pos = lenenc_int(p, pos)
            pos += alen or 0
        elif caps & C.CLIENT_SECURE_CONNECTION and pos < n:
            alen = p[pos]
            pos += 1 + alen
        else:
            auth, pos = cstring(p, pos)
            alen = len(auth)
        hs.auth_length = alen
        if caps & C.CLIENT_CONNECT_WITH_DB and pos < n:
            db, pos = cstring(p, pos)
            hs.database = self.database = text(db) or None
        if caps & C.CLIENT_PLUGIN_AUTH and pos < n:
            plugin, pos = cstring(p, pos)
            hs.auth_plugin = text(plugin) or hs.auth_plugin
        if caps & C.CLIENT_CONNECT_ATTRS and pos < n:
            try:
                total, pos = lenenc_int(p, pos)
                end = min(n, pos + (total or 0))
                attrs = {}
                while pos < end:
                    k, pos = lenenc_bytes(p, pos)
                    v, pos = lenenc_bytes(p, pos)
                    attrs[text(k)] = text(v)
                hs.connect_attrs = attrs
            except Short:
                pass
