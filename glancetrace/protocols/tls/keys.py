"""Key material: the secrets of this connection's client random from the key log, as ciphers."""

from __future__ import annotations

from . import constants as C
from .crypto import Tls13Cipher, tls12_ciphers


class _Keys:
    """Part of TlsDecoder (decoder.py): looking up and setting up keys."""

    def _setup_keys(self) -> None:
        s, ch, sh = self.s, self.ch, self.sh
        if self.keys is None or sh is None or self.key_state in ("found", "bad", "unsupported"):
            return
        if ch is None:
            self.key_state = "missing"
            s.why_not = "ClientHello not captured: client random unknown"
            return
        suite = self.suite
        if suite is None or not suite.cipher or (self.tls13 and suite.cipher == "AESCBC"):
            self.key_state = "unsupported"
            s.why_not = f"unsupported cipher suite {C.suite_name(sh.suite)}"
            return
        cr = ch.random
        get = self.keys.get
        if self.tls13:
            chs, shs = get("CLIENT_HANDSHAKE_TRAFFIC_SECRET", cr), get("SERVER_HANDSHAKE_TRAFFIC_SECRET", cr)
            cap, sap = get("CLIENT_TRAFFIC_SECRET_0", cr), get("SERVER_TRAFFIC_SECRET_0", cr)
            if not (chs or shs or cap or sap):
                return self._missing(cr)
            for ds, hs_secret, app in ((self.d[0], chs, cap), (self.d[1], shs, sap)):
                if hs_secret and not ds.finished:
                    # records already passed (key found late) used up sequence numbers
                    ds.cipher, ds.seq = Tls13Cipher(suite, hs_secret), max(0, ds.enc_records - 1)
                    ds.pending = Tls13Cipher(suite, app) if app else None
                elif app and not ds.finished:
                    ds.app_secret = app  # found by trial on the first application record
                elif app:
                    ds.cipher, ds.seq = Tls13Cipher(suite, app), 0
        else:
            master = get("CLIENT_RANDOM", cr)
            if not master:
                return self._missing(cr)
            if sh.version < 0x0301 or sh.version > 0x0303:
                self.key_state = "unsupported"
                s.why_not = f"unsupported version {s.version}"
                return
            c, sv = tls12_ciphers(suite, sh.version, master, cr, sh.random, sh.etm)
            for ds, ciph in ((self.d[0], c), (self.d[1], sv)):
                if ds.enc:  # CCS already passed (key arrived late)
                    ds.cipher, ds.seq = ciph, max(0, ds.enc_records - 1)
                else:
                    ds.pending = ciph
        self.key_state = "found"
        s.why_not = ""

    def _missing(self, cr: bytes) -> None:
        self.key_state = "missing"
        empty = self.keys is None or len(self.keys) == 0
        self.s.why_not = f"no key for client random {cr.hex()}" + (" (no key log loaded)" if empty else "")
